/* `bcos explain`: the B-cos student's explanation of an image for a text prompt (or for the top
 * zero-shot class): the colour explanation, its composite over the image and the contribution map
 * as PNGs, with the score and the completeness error of the decomposition. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/explain.h"
#include "bcos/image.h"
#include "bcos/tokenizer.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos explain [JOB.json] --weights STUDENT.safetensors --image IMG (--text PROMPT | --classes a,b,c\n"
    "                    [--templates-file F]) [--out PREFIX] [--pixel-order ORDER]\n"
    "                    [--run RUN [--db PATH]]\n"
    "Explains the student's score e.t for the prompt's normalised text embedding t (or the top zero-shot\n"
    "class's weights) and writes PREFIX-explanation.png (colour, alpha), PREFIX-composite.png (over the\n"
    "image) and PREFIX-contributions.png (blue-white-red). PREFIX defaults to the image name without its\n"
    "extension. Prints the score and the completeness error. --run records the composite picture with\n"
    "its prompt, score and completeness error in that run of the store (default $BCOS_DB, else ./bcos.db),\n"
    "where `bcos report` shows it. JOB.json, {\"kind\": \"explain\", \"<option>\": value,\n"
    "...}, gives options as a file; flags win over it.\n" CLI_PIXEL_ORDER_USAGE;

static const bcos_job_option JOB_OPTIONS[] = {
    {"weights", BCOS_JOB_STRING, "B-cos student weights (safetensors)", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_INPUT, NULL},
    {"image", BCOS_JOB_STRING, "the image explained", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_INPUT, NULL},
    {"text", BCOS_JOB_STRING, "the prompt explained", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_TEXT, NULL},
    {"classes", BCOS_JOB_STRING, "or class names, comma-separated: the top one is explained", BCOS_JOB_NO_RANGE, NULL,
     BCOS_JOB_TEXT, NULL},
    {"templates_file", BCOS_JOB_STRING, "zero-shot templates with {c}, one per line", BCOS_JOB_NO_RANGE, NULL,
     BCOS_JOB_INPUT, NULL},
    {"out", BCOS_JOB_STRING, "prefix of the pictures (default: the image's name)", BCOS_JOB_NO_RANGE, NULL,
     BCOS_JOB_OUTPUT, NULL},
    {"run", BCOS_JOB_STRING, "record the picture in this run of the store", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_TEXT,
     NULL},
    {"db", BCOS_JOB_STRING, "the store (default: $BCOS_DB, else ./bcos.db)", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_STORE,
     NULL},
    {"pixel_order", BCOS_JOB_STRING, "when a file becomes RGB", BCOS_JOB_NO_RANGE, "open-clip|convert-first",
     BCOS_JOB_TEXT, "\"open-clip\""},
};

const bcos_job_spec *cli_explain_job_spec(void) {
    static const bcos_job_spec spec = {"explain", "explanation pictures of a B-cos student (bcos explain)", JOB_OPTIONS,
                                       (int)(sizeof JOB_OPTIONS / sizeof JOB_OPTIONS[0])};
    return &spec;
}

typedef struct {
    const char *weights, *image, *text, *classes, *templates_file, *out, *pixel_order, *run, *db;
} explain_opts;

static void parse(explain_opts *o, int argc, char **argv) {
    static const struct option long_opts[] = {
        {"weights", required_argument, 0, 'w'}, {"image", required_argument, 0, 'i'},
        {"text", required_argument, 0, 't'},    {"classes", required_argument, 0, 'c'},
        {"templates-file", required_argument, 0, 'T'}, {"out", required_argument, 0, 'o'},
        {"pixel-order", required_argument, 0, 'p'}, {"run", required_argument, 0, 'r'},
        {"db", required_argument, 0, 'd'},          {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    *o = (explain_opts){0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "w:i:t:c:T:o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'w': o->weights = optarg; break;
        case 'i': o->image = optarg; break;
        case 't': o->text = optarg; break;
        case 'c': o->classes = optarg; break;
        case 'T': o->templates_file = optarg; break;
        case 'o': o->out = optarg; break;
        case 'p': o->pixel_order = optarg; break;
        case 'r': o->run = optarg; break;
        case 'd': o->db = optarg; break;
        case 'h': fputs(USAGE, stdout); exit(0);
        default: fputs(USAGE, stderr); exit(2);
        }
    }
    if (!o->weights || !o->image) bcos_fail("explain needs --weights and --image (see 'bcos explain --help')");
    if (!o->text == !o->classes) bcos_fail("give exactly one of --text and --classes");
    if (optind < argc) bcos_fail("unexpected argument '%s'", argv[optind]);
    if (o->db && !o->run) bcos_fail("--db is the store of --run: give the run too");
}

/* The store and the run the picture is recorded in, opened before the work so that a wrong run
 * name fails at once. */
static bcos_store *open_run(const explain_opts *o, int64_t *run_id) {
    bcos_store *s;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(o->db, NULL, &s, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_store_run_find(s, o->run, run_id, err, sizeof err) != 0) bcos_fail("%s", err);
    return s;
}

/* The composite picture PREFIX-composite.png, with what it explains, into the run. */
static void record_explanation(bcos_store *s, int64_t run_id, const char *prefix, const explain_opts *o,
                               const char *label, int64_t step, double score, double cosine, double completeness) {
    char *path = bcos_strfmt("%s-composite.png", prefix);
    size_t bytes;
    char *png = bcos_read_file(path, &bytes);
    if (!png) bcos_fail("%s: cannot read back the picture to record it", path);
    bcos_explanation e = {step, (char *)o->image, (char *)label, score, cosine, completeness, (unsigned char *)png, bytes,
                          NULL};
    bcos_store_explanation_add(s, run_id, &e);
    printf("recorded the explanation in run '%s'\n", o->run);
    free(png);
    free(path);
}

/* target[E]: the normalised text embedding of the prompt, or the weights of the class the student
 * scores highest; *label names it. */
static void choose_target(float *target, char *label, size_t label_len, const explain_opts *o, const bcos_clip *text,
                          const float *student_emb) {
    int E = text->cfg.embed_dim, L = text->cfg.context_length;
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    if (o->text) {
        int32_t *ids = xmalloc((size_t)L * sizeof(int32_t));
        bcos_tokenize(tok, o->text, L, ids);
        bcos_clip_encode_text(text, target, ids, 1);
        bcos_l2_normalize_rows(target, 1, E);
        snprintf(label, label_len, "\"%s\"", o->text);
        free(ids);
    } else {
        int K, NT;
        char **classes = cli_split_list(o->classes, &K);
        char *default_templates[2] = {(char *)BCOS_DEFAULT_TEMPLATE, NULL};
        char **templates = o->templates_file ? cli_read_lines(o->templates_file, &NT) : default_templates;
        if (!o->templates_file) NT = 1;
        float *classifier = xmalloc((size_t)K * E * sizeof(float)), *logits = xmalloc((size_t)K * sizeof(float));
        char err[BCOS_ERRLEN];
        if (bcos_zeroshot_classifier(classifier, text, tok, (const char *const *)classes, K,
                                     (const char *const *)templates, NT, err, sizeof err) != 0)
            bcos_fail("%s", err);
        bcos_zeroshot_logits(logits, student_emb, classifier, 1, K, E);
        int top;
        bcos_topk(&top, logits, K, 1);
        memcpy(target, classifier + (size_t)top * E, (size_t)E * sizeof(float));
        snprintf(label, label_len, "class '%s' (top of %d)", classes[top], K);
        free(logits);
        free(classifier);
        if (o->templates_file) cli_free_strings(templates);
        cli_free_strings(classes);
    }
    bcos_tokenizer_free(tok);
}

static void write_png(const char *prefix, const char *suffix, const float *pixels, int S, int channels) {
    char path[1024], err[BCOS_ERRLEN];
    snprintf(path, sizeof path, "%s-%s.png", prefix, suffix);
    uint8_t *bytes = xmalloc((size_t)S * S * channels);
    bcos_image_to_u8(bytes, pixels, (size_t)S * S * channels);
    if (bcos_png_write(path, bytes, S, S, channels, err, sizeof err) != 0) bcos_fail("%s", err);
    printf("wrote %s\n", path);
    free(bytes);
}

static void write_pictures(const char *prefix, const float *x6, const float *w6, int S) {
    float *rgba = xmalloc((size_t)S * S * 4 * sizeof(float)), *rgb = xmalloc((size_t)S * S * 3 * sizeof(float));
    float *contribution = xmalloc((size_t)S * S * sizeof(float));
    bcos_explain_colour(rgba, x6, w6, S, S, BCOS_EXPLAIN_SMOOTH, BCOS_EXPLAIN_PERCENTILE);
    write_png(prefix, "explanation", rgba, S, 4);
    bcos_explain_composite(rgb, rgba, x6, S, S);
    write_png(prefix, "composite", rgb, S, 3);
    bcos_explain_contribution(contribution, x6, w6, S, S);
    bcos_explain_contribution_map(rgb, contribution, S, S, BCOS_EXPLAIN_PERCENTILE);
    write_png(prefix, "contributions", rgb, S, 3);
    free(contribution);
    free(rgb);
    free(rgba);
}

/* "dir/photo.jpg" -> "dir/photo" */
static void default_prefix(char *out, size_t len, const char *image) {
    snprintf(out, len, "%s", image);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
}

int cmd_explain(int argc, char **argv) {
    explain_opts o;
    char **args = cli_job_argv(cli_explain_job_spec(), &argc, argv);
    parse(&o, argc, args);
    int64_t run_id = 0;
    bcos_store *store = o.run ? open_run(&o, &run_id) : NULL;
    char err[BCOS_ERRLEN];
    bcos_student s;
    bcos_clip text;
    const bcos_backend *be = bcos_backend_get("auto");
    if (bcos_student_load_file(&s, o.weights, be, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_student_load_text(&text, o.weights, be, err, sizeof err) != 0) bcos_fail("%s", err);
    int S = s.cfg.image_size, E = s.cfg.embed_dim;
    size_t n6 = (size_t)6 * S * S;
    float *x6 = xmalloc(n6 * sizeof(float)), *w6 = xmalloc(n6 * sizeof(float));
    cli_load_x6(x6, o.image, S, cli_pixel_order(o.pixel_order));
    float *emb = xmalloc((size_t)E * sizeof(float)), *target = xmalloc((size_t)E * sizeof(float));
    bcos_student_acts *acts = bcos_student_acts_new(&s, 1);
    /* the B and bias scale of the step the file was saved at */
    bcos_student_forward(&s, acts, emb, x6, s.saved_b, s.saved_bias_scale);
    char label[512];
    choose_target(target, label, sizeof label, &o, &text, emb);
    double constants, score = 0, norm = 0;
    bcos_student_explain(&s, acts, w6, &constants, target);
    for (int e = 0; e < E; e++) {
        score += (double)emb[e] * target[e];
        norm += (double)emb[e] * emb[e];
    }
    double completeness = bcos_completeness_error(x6, w6, n6, constants, score);
    char prefix[1024];
    if (o.out)
        snprintf(prefix, sizeof prefix, "%s", o.out);
    else
        default_prefix(prefix, sizeof prefix, o.image);
    write_pictures(prefix, x6, w6, S);
    double cosine = norm > 0 ? score / sqrt(norm) : 0.0;
    printf("%s: score %.6f (cosine %.4f) for %s; constants' share %.6f; completeness error %.2e\n", o.image, score,
           cosine, label, constants, completeness);
    if (store) {
        record_explanation(store, run_id, prefix, &o, label, s.saved_step, score, cosine, completeness);
        bcos_store_close(store);
    }
    bcos_student_acts_free(acts);
    free(target);
    free(emb);
    free(w6);
    free(x6);
    bcos_clip_free(&text);
    bcos_student_free(&s);
    cli_free_strings(args);
    return 0;
}
