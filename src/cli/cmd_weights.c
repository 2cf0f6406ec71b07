/* `bcos weights info FILE`: what a safetensors file holds and which CLIP configs it matches, or,
 * for a B-cos student, its config, its B-cos options and the step it was saved at.
 * `bcos weights fetch URL --sha256 HEX [--out FILE]`: a weights file downloaded (retries, Range
 * resume) and verified, by default into the cache's weights folder, where a verified copy is kept. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/fetch.h"
#include "bcos/log.h"
#include "bcos/sha256.h"
#include "bcos/shard_sizes.h"
#include "bcos/student.h"
#include "bcos/urls.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos weights info [--] FILE.safetensors\n"
    "       bcos weights fetch URL --sha256 HEX [--out FILE]\n"
    "info lists the tensors (name, dtype, shape), the metadata, the naming scheme and the\n"
    "built-in CLIP configs whose shapes the file matches; for a B-cos student, its\n"
    "config, B, options and the step it was saved at. Put -- before a FILE starting\n"
    "with '-'.\n"
    "fetch downloads an http(s) URL (retried, resumed with Range), checks its SHA-256 and\n"
    "prints the file's path: FILE, or by default $BCOS_CACHE_DIR, $XDG_CACHE_HOME/bcos or\n"
    "~/.cache/bcos, then weights/HEX/NAME (NAME: the URL's last part). A file there with\n"
    "that SHA-256 is not downloaded again; a download that does not match is removed; one\n"
    "that breaks off is kept in FILE.part, and the same command goes on from there.\n"
    "A bearer token for the host (a gated Hugging Face repo) goes in $BCOS_HTTP_TOKEN.\n";

static void print_config_matches(const bcos_safetensors *st) {
    char err[BCOS_ERRLEN];
    int matches = 0;
    const char *const *names = bcos_clip_config_builtin_names();
    for (int i = 0; names[i]; i++) {
        bcos_clip_config cfg;
        if (bcos_clip_config_load(&cfg, names[i], err, sizeof err) != 0) bcos_fail("%s", err);
        if (bcos_clip_file_matches(st, &cfg)) printf("matches config: %s\n", names[i]), matches++;
    }
    char nearest[BCOS_ERRLEN];
    if (!matches) bcos_clip_nearest_config(st, nearest, sizeof nearest);
    if (!matches) printf("matches config: none of the built-in configs%s%s\n", nearest[0] ? "; " : "", nearest);
}

/* The student as bcos loads it (which checks every tensor). */
static void print_student(const char *path, const bcos_safetensors *st) {
    bcos_student s;
    char err[BCOS_ERRLEN];
    if (bcos_student_load_file(&s, path, bcos_backend_get("auto"), err, sizeof err) != 0) bcos_fail("%s", err);
    const bcos_student_options *o = &s.opt;
    if (s.cfg.vision_tower == BCOS_TOWER_RESNET) {
        printf("B-cos ResNet student of config %s (image %d, width %d, layers %d %d %d %d)\n", s.cfg.name,
               s.cfg.image_size, s.cfg.vision_width, s.cfg.resnet_layers[0], s.cfg.resnet_layers[1],
               s.cfg.resnet_layers[2], s.cfg.resnet_layers[3]);
        printf("options: B %g, b_ramp_steps %lld, keep_biases %s, bias_decay_steps %lld, bcos_c_proj %s, keep_pos %s, "
               "per_rank_bn %s\n", o->b, (long long)o->b_ramp_steps, o->keep_biases ? "true" : "false",
               (long long)o->bias_decay_steps, o->bcos_c_proj ? "true" : "false", o->keep_pos ? "true" : "false",
               o->per_rank_bn ? "true" : "false");
    } else {
        printf("B-cos student of config %s (%s, image %d, patch %d, width %d, %d layers)\n", s.cfg.name,
               s.cfg.quick_gelu ? "QuickGELU" : "GELU", s.cfg.image_size, s.cfg.patch_size, s.cfg.vision_width,
               s.cfg.vision_layers);
        printf("options: B %g, b_ramp_steps %lld, keep_biases %s, bias_decay_steps %lld, plain_proj %s\n", o->b,
               (long long)o->b_ramp_steps, o->keep_biases ? "true" : "false", (long long)o->bias_decay_steps,
               o->plain_proj ? "true" : "false");
    }
    if (s.saved_step >= 0)
        printf("saved at step %lld: used with B %g and bias scale %g\n", (long long)s.saved_step, s.saved_b,
               s.saved_bias_scale);
    else
        printf("saved at an unrecorded step (a version 1 file): used with B %g and bias scale %g\n", s.saved_b,
               s.saved_bias_scale);
    printf("text tower: %s\n", bcos_st_find(st, "token_embedding.weight") ? "the teacher's (zeroshot, encode-text)"
                                                                          : "none (image embeddings only)");
    bcos_student_free(&s);
}

static int weights_info(const char *path) {
    bcos_safetensors st;
    char err[BCOS_ERRLEN], shape[96];
    if (bcos_st_open(&st, path, err, sizeof err) != 0) bcos_fail("%s", err);
    size_t total = 0;
    printf("%s: %d tensors\n", path, st.count);
    for (int i = 0; i < st.count; i++) {
        const bcos_st_tensor *t = &st.tensors[i];
        total += t->numel;
        printf("  %-64s %-5s %s\n", t->name, t->dtype_name, bcos_shape_str(shape, sizeof shape, t->ndim, t->shape));
    }
    for (int i = 0; i < st.meta_count; i++) printf("metadata %s = %s\n", st.meta[i].key, st.meta[i].value);
    printf("parameters: %zu\n", total);
    printf("naming: %s\n", bcos_naming_str(bcos_clip_detect_naming(&st)));
    if (bcos_st_meta_get(&st, "bcos_student"))
        print_student(path, &st);
    else
        print_config_matches(&st);
    bcos_st_close(&st);
    return 0;
}

/* The SHA-256 as 64 lowercase hex digits into hex, or a one-line failure naming it. */
static void parse_sha256(const char *text, char hex[BCOS_SHA256_HEX]) {
    size_t n = strlen(text);
    for (size_t i = 0; i < n && n == 64; i++)
        if (!isxdigit((unsigned char)text[i])) n = 0;
    if (n != 64) bcos_fail("weights fetch: --sha256 takes 64 hex digits, not '%s'", text);
    for (size_t i = 0; i <= n; i++) hex[i] = (char)tolower((unsigned char)text[i]);
}

/* The default destination: <cache>/weights/<sha256>/<the URL's last part> (heap). */
static char *cache_path(const char *url, const char *hex) {
    size_t end = strcspn(url, "?#");
    const char *name = url + end;
    while (name > url && name[-1] != '/') name--;
    if (name == url + end || memchr(name, '/', (size_t)(url + end - name)))
        bcos_fail("weights fetch: %s has no file name at its end: name the file with --out", url);
    char *dir = bcos_cache_dir();
    if (!dir) bcos_fail("weights fetch: no cache folder ($BCOS_CACHE_DIR, $XDG_CACHE_HOME and $HOME are unset): use --out FILE");
    char *path = bcos_strfmt("%s/weights/%s/%.*s", dir, hex, (int)(url + end - name), name);
    free(dir);
    return path;
}

static int weights_fetch(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"sha256", required_argument, 0, 's'}, {"out", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    const char *sha = NULL, *out = NULL;
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (c == 's') sha = optarg;
        else if (c == 'o') out = optarg;
        else cli_bad_option("weights fetch", argc, argv);
    }
    if (optind != argc - 1 || !sha) {
        fputs(USAGE, stderr);
        bcos_fail("weights fetch: give one URL and its --sha256");
    }
    const char *url = argv[optind];
    bcos_url_kind kind = bcos_url_kind_of(url);
    if (kind != BCOS_URL_HTTP && kind != BCOS_URL_HTTPS) {
        char *shown = bcos_url_redact(url);
        bcos_fail("weights fetch: '%s' is not an http:// or https:// URL", shown);
    }
    char hex[BCOS_SHA256_HEX], err[BCOS_ERRLEN];
    parse_sha256(sha, hex);
    char *path = out ? xstrdup(out) : cache_path(url, hex);
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    bcos_fetch_file_result got;
    if (bcos_http_fetch_file(url, &opt, path, hex, &got, err, sizeof err) != 0) bcos_fail("%s", err);
    if (got.had_it) bcos_info("%s: there already, its sha256 verified: not downloaded again", path);
    else
        bcos_info("%s: sha256 verified; %lld bytes fetched in %ld attempts (%ld resumed with Range), %lld kept from an "
                  "earlier try", path, got.stats.bytes, got.stats.attempts, got.stats.resumes, got.resumed_from);
    printf("%s\n", path);
    free(path);
    return 0;
}

/* bcos weights [--help] | weights info|fetch [--help] ...: help wherever it is asked for, before
 * any argument is taken for a file. */
int cmd_weights(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        }
    if (argc >= 2 && strcmp(argv[1], "fetch") == 0) return weights_fetch(argc, argv);
    int file = 2;
    if (file < argc && strcmp(argv[file], "--") == 0) file++;
    else if (file < argc && argv[file][0] == '-')
        bcos_fail("weights info: unknown option '%s' (put -- before a file name starting with '-')", argv[file]);
    if (argc < 2 || strcmp(argv[1], "info") != 0 || argc != file + 1) {
        fputs(USAGE, stderr);
        return 2;
    }
    return weights_info(argv[file]);
}
