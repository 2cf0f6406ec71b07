/* Option handling shared by the subcommands: loading weights (a CLIP, or a B-cos student's towers),
 * printing or saving embeddings, reading lists of class names and templates, and opening the store
 * for reading. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/image.h"
#include "bcos/safetensors.h"
#include "cli.h"

void cli_load_clip(bcos_clip *m, const char *weights, const char *model) {
    if (!weights) bcos_fail("missing --weights FILE.safetensors");
    char err[BCOS_ERRLEN];
    if (bcos_clip_load_file(m, weights, model, bcos_backend_get("auto"), err, sizeof err) != 0)
        bcos_fail("%s", err);
}

int cli_is_student(const char *weights) {
    if (!weights) bcos_fail("missing --weights FILE.safetensors");
    bcos_safetensors st;
    char err[BCOS_ERRLEN];
    if (bcos_st_open(&st, weights, err, sizeof err) != 0) bcos_fail("%s", err);
    int student = bcos_st_meta_get(&st, "bcos_student") != NULL;
    bcos_st_close(&st);
    return student;
}

void cli_load_text_tower(bcos_clip *m, const char *weights, const char *model) {
    char err[BCOS_ERRLEN];
    if (!cli_is_student(weights))
        cli_load_clip(m, weights, model);
    else if (bcos_student_load_text(m, weights, bcos_backend_get("auto"), err, sizeof err) != 0)
        bcos_fail("%s", err);
}

float *cli_student_embeddings(const char *weights, char *const *paths, int N, bcos_pixel_order order, int *E) {
    bcos_student s;
    char err[BCOS_ERRLEN];
    if (bcos_student_load_file(&s, weights, bcos_backend_get("auto"), err, sizeof err) != 0) bcos_fail("%s", err);
    int S = s.cfg.image_size;
    size_t n6 = (size_t)6 * S * S;
    *E = s.cfg.embed_dim;
    float *x6 = xmalloc((size_t)N * n6 * sizeof(float)), *emb = xmalloc((size_t)N * *E * sizeof(float));
    for (int i = 0; i < N; i++) cli_load_x6(x6 + (size_t)i * n6, paths[i], S, order);
    bcos_student_acts *acts = bcos_student_acts_new(&s, N);
    bcos_student_forward(&s, acts, emb, x6, s.saved_b, s.saved_bias_scale);
    bcos_student_acts_free(acts);
    free(x6);
    bcos_student_free(&s);
    return emb;
}

void cli_bad_option(const char *command, int argc, char **argv) {
    const char *arg = argv[optind - 1];
    /* an unknown letter inside a cluster ("-1 degrees") leaves optind on the cluster */
    if (optind < argc && optopt && argv[optind][0] == '-' && strchr(argv[optind], optopt)) arg = argv[optind];
    bcos_fail("%s: bad or incomplete option '%s' (see --help; put -- before an argument starting with '-')", command,
              arg);
}

int cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

bcos_pixel_order cli_pixel_order(const char *text) {
    bcos_pixel_order order = BCOS_ORDER_OPEN_CLIP;
    char err[BCOS_ERRLEN];
    if (text && bcos_pixel_order_parse(&order, text, err, sizeof err) != 0) bcos_fail("--%s", err);
    return order;
}

void cli_load_x6(float *x6, const char *path, int S, bcos_pixel_order order) {
    char err[BCOS_ERRLEN];
    uint8_t *crop = xmalloc((size_t)S * S * 3);
    if (bcos_clip_eval_file_crop(crop, path, S, order, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_x6_from_crop(x6, crop, S);
    free(crop);
}

void cli_emit_embeddings(const char *name, const float *x, int N, int D, char *const *labels, const char *out_path) {
    if (out_path) {
        int64_t shape[2] = {N, D};
        bcos_st_entry e = {name, BCOS_F32, 2, shape, x};
        char err[BCOS_ERRLEN];
        if (bcos_st_write(out_path, &e, 1, NULL, 0, err, sizeof err) != 0) bcos_fail("%s", err);
        fprintf(stderr, "wrote %s [%d, %d] to %s\n", name, N, D, out_path);
        return;
    }
    for (int i = 0; i < N; i++) {
        printf("%s\t", labels[i]);
        for (int d = 0; d < D; d++) printf(d ? " %.7g" : "%.7g", x[(size_t)i * D + d]);
        putchar('\n');
    }
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static char **push(char **items, int *n, const char *s) {
    items = xrealloc(items, (size_t)(*n + 2) * sizeof *items);
    items[(*n)++] = xstrdup(s);
    items[*n] = NULL;
    return items;
}

char **cli_read_lines(const char *path, int *n) {
    char *text = bcos_read_file(path, NULL);
    if (!text) bcos_fail("cannot read '%s'", path);
    char **items = NULL;
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *t = trim(line);
        if (*t) items = push(items, n, t);
    }
    free(text);
    if (*n == 0) bcos_fail("'%s' has no entries", path);
    return items;
}

char **cli_split_list(const char *list, int *n) {
    char *copy = xstrdup(list);
    char **items = NULL;
    *n = 0;
    for (char *part = strtok(copy, ","); part; part = strtok(NULL, ",")) {
        char *t = trim(part);
        if (*t) items = push(items, n, t);
    }
    free(copy);
    if (*n == 0) bcos_fail("the list '%s' has no entries", list);
    return items;
}

void cli_free_strings(char **items) {
    for (int i = 0; items && items[i]; i++) free(items[i]);
    free(items);
}

int cli_parse_db_option(int argc, char **argv, const char *usage, const char **db) {
    static const struct option long_opts[] = {{"db", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'd': *db = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    return -1;
}

bcos_store *cli_open_store(const char *path) {
    bcos_store_options read_only = {1, BCOS_JOURNAL_AUTO, 0};
    bcos_store *s;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(path, &read_only, &s, err, sizeof err) != 0)
        bcos_fail("%s", err);
    return s;
}
