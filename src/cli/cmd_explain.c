/* `bcos explain`: the B-cos student's explanation of an image for a text prompt (or for the top
 * zero-shot class), or of the first images of each class of a dataset for their own class: the
 * colour explanation, its composite over the image and the contribution map as PNGs (enlarged by
 * --upscale), the raw contributions as safetensors, with the score and the completeness error of
 * the decomposition. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/explain.h"
#include "bcos/image.h"
#include "bcos/loader.h"
#include "bcos/paths.h"
#include "bcos/log.h"
#include "bcos/safetensors.h"
#include "bcos/samples.h"
#include "bcos/tokenizer.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos explain [JOB.json] --weights STUDENT.safetensors --image IMG (--text PROMPT | --classes a,b,c\n"
    "                    [--templates-file F]) [--out PREFIX] [--pixel-order ORDER]\n"
    "                    [--upscale K] [--run RUN [--db PATH]]\n"
    "       bcos explain [JOB.json] --weights STUDENT.safetensors --dataset ROOT [--split test]\n"
    "                    [--per-class N] --out PREFIX [--upscale K] [--run RUN [--db PATH]]\n"
    "Explains the student's score e.t for the prompt's normalised text embedding t (or the top zero-shot\n"
    "class's weights) and writes PREFIX-explanation.png (colour, alpha), PREFIX-composite.png (over the\n"
    "image), PREFIX-contributions.png (blue-white-red), each enlarged K times (nearest neighbour), and\n"
    "PREFIX-contributions.safetensors: 'contribution' [S, S], each input pixel's share of the score, and\n"
    "'pixels' [S, S, 3], the image as the student saw it (0..255). PREFIX defaults to the image name\n"
    "without its extension. --dataset ROOT, a classification dataset in CLIP_benchmark's layout (as\n"
    "'bcos eval' reads it), explains the first N samples (default 1) of each class of its split for\n"
    "their class's zero-shot weights, as PREFIX-CLASS-KEY-*. Prints the score and the completeness\n"
    "error of each. --run records the composite picture with\n"
    "its prompt, score and completeness error in that run of the store (default $BCOS_DB, else ./bcos.db),\n"
    "where `bcos report` shows it. JOB.json, {\"kind\": \"explain\", \"<option>\": value,\n"
    "...}, gives options as a file; flags win over it.\n" CLI_PIXEL_ORDER_USAGE;

/* The options, from a job file {"kind": "explain", ...} and then the flags, which win; an empty
 * string is one not given. */
typedef struct {
    char weights[OPTION_TEXT_MAX], image[OPTION_TEXT_MAX], text[OPTION_TEXT_MAX], classes[OPTION_TEXT_MAX];
    char templates_file[OPTION_TEXT_MAX];
    char out[OPTION_TEXT_MAX], run[OPTION_TEXT_MAX], db[OPTION_TEXT_MAX], pixel_order[16], dataset[OPTION_TEXT_MAX];
    char split[OPTION_TEXT_MAX];
    int per_class, upscale;
} explain_opts;

#define F(field) OPTION_AT(explain_opts, field)
static const option OPTIONS[] = {
    {"weights", OPT_STR, F(weights), JOB, "B-cos student weights (safetensors)", READS},
    {"image", OPT_STR, F(image), JOB, "the image explained", READS},
    {"text", OPT_STR, F(text), JOB, "the prompt explained", TEXT},
    {"classes", OPT_STR, F(classes), JOB, "or class names, comma-separated: the top one is explained", TEXT},
    {"templates_file", OPT_STR, F(templates_file), JOB, "zero-shot templates with {c}, one per line", READS},
    {"out", OPT_STR, F(out), JOB, "prefix of the pictures (default: the image's name)", WRITES},
    {"run", OPT_STR, F(run), JOB, "record the picture in this run of the store", TEXT},
    {"db", OPT_STR, F(db), JOB, "the store (default: $BCOS_DB, else ./bcos.db)", STORE_DB},
    {"pixel_order", OPT_STR, F(pixel_order), JOB, "when a file becomes RGB", ONE_OF("open-clip|convert-first")},
    {"dataset", OPT_STR, F(dataset), JOB,
     "or a classification dataset's root (CLIP_benchmark layout): explain its samples", READS},
    {"split", OPT_STR, F(split), JOB, "the dataset's split", TEXT},
    {"per_class", OPT_INT, F(per_class), JOB, "samples explained per class of the dataset", FROM_TO(1, 1000)},
    {"upscale", OPT_INT, F(upscale), JOB, "pictures enlarged this many times (nearest neighbour)", FROM_TO(1, 64)},
};
#undef F
static const option_table TABLE = {"explain", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};

static void explain_defaults(void *cfg) {
    *(explain_opts *)cfg = (explain_opts){.pixel_order = "open-clip", .split = "test", .per_class = 1, .upscale = 1};
}

static option_kind KIND = {.table = &TABLE, .kind = "explain", .size = sizeof(explain_opts),
                           .defaults = explain_defaults,
                           .summary = "explanation pictures of a B-cos student (bcos explain)"};

const bcos_job_spec *cli_explain_job_spec(void) { return option_kind_spec(&KIND); }

static void parse(explain_opts *o, int argc, char **argv) {
    cli_table_args(&KIND, USAGE, o, argc, argv);
    if (o->db[0] && !o->run[0]) bcos_fail("--db is the store of --run: give the run too");
    if (!o->weights[0]) bcos_fail("explain needs --weights (see 'bcos explain --help')");
    if (o->dataset[0]) {
        if (o->image[0] || o->text[0] || o->classes[0] || o->templates_file[0])
            bcos_fail("--dataset explains its samples for their classes: --image, --text, --classes and "
                      "--templates-file do not apply");
        if (!o->out[0]) bcos_fail("--dataset needs --out PREFIX for its pictures");
        return;
    }
    if (!o->image[0]) bcos_fail("explain needs --image or --dataset (see 'bcos explain --help')");
    if (!o->text[0] == !o->classes[0]) bcos_fail("give exactly one of --text and --classes");
}

/* The store and the run the picture is recorded in, opened before the work so that a wrong run
 * name fails at once. */
static bcos_store *open_run(const explain_opts *o, int64_t *run_id) {
    bcos_store *s;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(cli_given(o->db), NULL, &s, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_store_run_find(s, o->run, run_id, err, sizeof err) != 0) bcos_fail("%s", err);
    return s;
}

/* What every explanation of one command shares: the student, its text tower, the store. */
typedef struct {
    const explain_opts *o;
    bcos_student student;
    bcos_clip text;
    bcos_student_acts *acts;
    bcos_store *store; /* NULL without --run */
    int64_t run_id;
} explainer;

/* One explanation: what was explained (an image's path, or shard#key), the score's target, the
 * pictures' prefix. */
typedef struct {
    const char *image, *label, *prefix;
    const float *target;
    double score, cosine, completeness;
} explanation;

/* The composite picture PREFIX-composite.png, with what it explains, into the run. */
static void record_explanation(explainer *ex, const explanation *x) {
    char *path = bcos_strfmt("%s-composite.png", x->prefix);
    size_t bytes;
    char *png = bcos_read_file(path, &bytes);
    if (!png) bcos_fail("%s: cannot read back the picture to record it", path);
    bcos_explanation e = {ex->student.saved_step, (char *)x->image, (char *)x->label, x->score, x->cosine,
                          x->completeness, (unsigned char *)png, bytes, NULL};
    bcos_store_explanation_add(ex->store, ex->run_id, &e);
    printf("recorded the explanation in run '%s'\n", ex->o->run);
    free(png);
    free(path);
}

/* target[E]: the normalised text embedding of the prompt, or the weights of the class the student
 * scores highest; *label names it. */
static void choose_target(float *target, char *label, size_t label_len, const explain_opts *o, const bcos_clip *text,
                          const float *student_emb) {
    int E = text->cfg.embed_dim, L = text->cfg.context_length;
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    if (o->text[0]) {
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
        char **templates = o->templates_file[0] ? cli_read_lines(o->templates_file, &NT) : default_templates;
        if (!o->templates_file[0]) NT = 1;
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
        if (o->templates_file[0]) cli_free_strings(templates);
        cli_free_strings(classes);
    }
    bcos_tokenizer_free(tok);
}

/* PREFIX-SUFFIX.png: the S x S picture enlarged k times, each pixel a k x k block. */
static void write_png(const char *prefix, const char *suffix, const float *pixels, int S, int channels, int k) {
    char path[1024], err[BCOS_ERRLEN];
    snprintf(path, sizeof path, "%s-%s.png", prefix, suffix);
    if (bcos_make_parent_dirs(path, err, sizeof err) != 0) bcos_fail("%s", err);
    int side = S * k;
    uint8_t *small = xmalloc((size_t)S * S * channels), *bytes = xmalloc((size_t)side * side * channels);
    bcos_image_to_u8(small, pixels, (size_t)S * S * channels);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            memcpy(bytes + ((size_t)y * side + x) * channels, small + ((size_t)(y / k) * S + x / k) * channels,
                   (size_t)channels);
    if (bcos_png_write(path, bytes, side, side, channels, err, sizeof err) != 0) bcos_fail("%s", err);
    printf("wrote %s\n", path);
    free(bytes);
    free(small);
}

/* PREFIX-contributions.safetensors: the raw contribution map and the pixels the student saw, for
 * measuring where an explanation lands (the pictures are clipped at a percentile). */
static void write_contributions(const char *prefix, const float *contribution, const float *x6, int S) {
    size_t plane = (size_t)S * S;
    float *pixels = xmalloc(plane * 3 * sizeof(float));
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) pixels[p * 3 + c] = roundf(x6[c * plane + p] * 255.0f);
    int64_t map_shape[2] = {S, S}, pixels_shape[3] = {S, S, 3};
    bcos_st_entry entries[2] = {{"contribution", BCOS_F32, 2, map_shape, contribution},
                                {"pixels", BCOS_F32, 3, pixels_shape, pixels}};
    char path[1024], err[BCOS_ERRLEN];
    snprintf(path, sizeof path, "%s-contributions.safetensors", prefix);
    if (bcos_st_write(path, entries, 2, NULL, 0, err, sizeof err) != 0) bcos_fail("%s", err);
    printf("wrote %s\n", path);
    free(pixels);
}

static void write_pictures(const char *prefix, const float *x6, const float *w6, int S, int k) {
    float *rgba = xmalloc((size_t)S * S * 4 * sizeof(float)), *rgb = xmalloc((size_t)S * S * 3 * sizeof(float));
    float *contribution = xmalloc((size_t)S * S * sizeof(float));
    bcos_explain_colour(rgba, x6, w6, S, S, BCOS_EXPLAIN_SMOOTH, BCOS_EXPLAIN_PERCENTILE);
    write_png(prefix, "explanation", rgba, S, 4, k);
    bcos_explain_composite(rgb, rgba, x6, S, S);
    write_png(prefix, "composite", rgb, S, 3, k);
    bcos_explain_contribution(contribution, x6, w6, S, S);
    bcos_explain_contribution_map(rgb, contribution, S, S, BCOS_EXPLAIN_PERCENTILE);
    write_png(prefix, "contributions", rgb, S, 3, k);
    write_contributions(prefix, contribution, x6, S);
    free(contribution);
    free(rgb);
    free(rgba);
}

/* The student's score for x->target on x6 (already forwarded, its embedding emb) explained: the
 * pictures written, the numbers printed and recorded. */
static void explain_forwarded(explainer *ex, explanation *x, const float *x6, const float *emb) {
    const bcos_student *s = &ex->student;
    int S = s->cfg.image_size, E = s->cfg.embed_dim;
    size_t n6 = (size_t)6 * S * S;
    float *w6 = xmalloc(n6 * sizeof(float));
    double constants, score = 0, norm = 0;
    bcos_student_explain(s, ex->acts, w6, &constants, x->target);
    for (int e = 0; e < E; e++) {
        score += (double)emb[e] * x->target[e];
        norm += (double)emb[e] * emb[e];
    }
    x->score = score;
    x->cosine = norm > 0 ? score / sqrt(norm) : 0.0;
    x->completeness = bcos_completeness_error(x6, w6, n6, constants, score);
    write_pictures(x->prefix, x6, w6, S, ex->o->upscale);
    printf("%s: score %.6f (cosine %.4f) for %s; constants' share %.6f; completeness error %.2e\n", x->image, x->score,
           x->cosine, x->label, constants, x->completeness);
    if (ex->store) record_explanation(ex, x);
    free(w6);
}

/* "dir/photo.jpg" -> "dir/photo" */
static void default_prefix(char *out, size_t len, const char *image) {
    snprintf(out, len, "%s", image);
    char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (dot && (!slash || dot > slash)) *dot = '\0';
}

/* One image file for the prompt or the top class. */
static void explain_image_file(explainer *ex) {
    const explain_opts *o = ex->o;
    int S = ex->student.cfg.image_size, E = ex->student.cfg.embed_dim;
    float *x6 = xmalloc((size_t)6 * S * S * sizeof(float));
    float *emb = xmalloc((size_t)E * sizeof(float)), *target = xmalloc((size_t)E * sizeof(float));
    cli_load_x6(x6, o->image, S, cli_pixel_order(o->pixel_order));
    /* the B and bias scale of the step the file was saved at */
    bcos_student_forward(&ex->student, ex->acts, emb, x6, ex->student.saved_b, ex->student.saved_bias_scale);
    char label[OPTION_TEXT_MAX + 8], prefix[OPTION_TEXT_MAX];
    choose_target(target, label, sizeof label, o, &ex->text, emb);
    if (o->out[0])
        snprintf(prefix, sizeof prefix, "%s", o->out);
    else
        default_prefix(prefix, sizeof prefix, o->image);
    explanation x = {o->image, label, prefix, target, 0, 0, 0};
    explain_forwarded(ex, &x, x6, emb);
    free(target);
    free(emb);
    free(x6);
}

/* "T-shirt/top" -> "t-shirt-top": a class name as part of a file name. */
static void class_slug(char *out, size_t len, const char *name) {
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < len; p++)
        out[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    out[n] = '\0';
}

/* The dataset's sample s explained for its class, when the class still wants one; 1 if it was. It
 * is read as `bcos eval` reads it (CLIP_benchmark's image member, the evaluation crop); one that
 * does not decode is skipped, said. */
static int explain_sample(explainer *ex, const bcos_eval_dataset *d, const float *classifier, int *wanted,
                          const bcos_sample *s, float *x6, float *emb) {
    int S = ex->student.cfg.image_size, E = ex->student.cfg.embed_dim, label;
    bcos_image_sample_config input = {.size = S, .kind = BCOS_INPUT_BCOS6, .need_label = true,
                                      .n_classes = d->n_classes, .decode = BCOS_DECODE_EXACT, .benchmark_order = true};
    char msg[BCOS_ERRLEN], image[1024], label_text[512], slug[128], prefix[OPTION_TEXT_MAX + 256];
    snprintf(image, sizeof image, "%s#%s", s->shard, s->key);
    if (bcos_image_sample(&input, s, x6, &label, msg, sizeof msg) != BCOS_SAMPLE_OK) {
        bcos_warn("%s: skipped: %s", image, msg);
        return 0;
    }
    if (wanted[label] == 0) return 0;
    bcos_student_forward(&ex->student, ex->acts, emb, x6, ex->student.saved_b, ex->student.saved_bias_scale);
    class_slug(slug, sizeof slug, d->classes[label]);
    snprintf(prefix, sizeof prefix, "%s-%s-%s", ex->o->out, slug, s->key);
    snprintf(label_text, sizeof label_text, "class '%s'", d->classes[label]);
    explanation x = {image, label_text, prefix, classifier + (size_t)label * E, 0, 0, 0};
    explain_forwarded(ex, &x, x6, emb);
    wanted[label]--;
    return 1;
}

/* The first --per-class samples of each class of the dataset's split, in shard order. */
static void explain_dataset(explainer *ex) {
    const explain_opts *o = ex->o;
    bcos_fetch_options fetch;
    bcos_fetch_options_default(&fetch);
    bcos_eval_dataset d;
    char err[BCOS_ERRLEN];
    if (bcos_eval_dataset_open(&d, o->dataset, o->dataset, o->split, &fetch, err, sizeof err) != 0)
        bcos_fail("%s", err);
    if (d.n_classes < 1) bcos_fail("--dataset %s: not a classification dataset (no class names)", o->dataset);
    int S = ex->student.cfg.image_size, E = ex->student.cfg.embed_dim;
    float *classifier = xmalloc((size_t)d.n_classes * E * sizeof(float));
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    if (bcos_zeroshot_classifier(classifier, &ex->text, tok, (const char *const *)d.classes, d.n_classes,
                                 (const char *const *)d.templates, d.n_templates, err, sizeof err) != 0)
        bcos_fail("%s", err);
    bcos_tokenizer_free(tok);
    int *wanted = xmalloc((size_t)d.n_classes * sizeof(int));
    for (int k = 0; k < d.n_classes; k++) wanted[k] = o->per_class;
    long left = (long)d.n_classes * o->per_class;
    float *x6 = xmalloc((size_t)6 * S * S * sizeof(float)), *emb = xmalloc((size_t)E * sizeof(float));
    bcos_data_counters counters = {0};
    for (int i = 0; i < d.n_shards && left > 0; i++) {
        bcos_sample_reader *r = bcos_samples_open(d.shards[i], &fetch, &counters);
        bcos_sample s = {0};
        int more = 0;
        while (left > 0 && (more = bcos_samples_next(r, &s)) == 1) {
            left -= explain_sample(ex, &d, classifier, wanted, &s, x6, emb);
            bcos_sample_clear(&s);
        }
        if (left > 0 && more < 0) bcos_fail("%s", bcos_samples_error(r));
        bcos_samples_close(r);
    }
    if (left > 0)
        bcos_warn("--dataset %s: %ld of the wanted samples are not in its '%s' split", o->dataset, left, o->split);
    free(emb);
    free(x6);
    free(wanted);
    free(classifier);
    bcos_eval_dataset_free(&d);
}

int cmd_explain(int argc, char **argv) {
    explain_opts o;
    parse(&o, argc, argv);
    explainer ex = {.o = &o};
    ex.store = o.run[0] ? open_run(&o, &ex.run_id) : NULL;
    char err[BCOS_ERRLEN];
    const bcos_backend *be = bcos_backend_get("auto");
    if (bcos_student_load_file(&ex.student, o.weights, be, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_student_load_text(&ex.text, o.weights, be, err, sizeof err) != 0) bcos_fail("%s", err);
    ex.acts = bcos_student_acts_new(&ex.student, 1);
    if (o.dataset[0])
        explain_dataset(&ex);
    else
        explain_image_file(&ex);
    if (ex.store) bcos_store_close(ex.store);
    bcos_student_acts_free(ex.acts);
    bcos_clip_free(&ex.text);
    bcos_student_free(&ex.student);
    return 0;
}
