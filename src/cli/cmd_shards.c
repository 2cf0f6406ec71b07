/* `bcos shards`: `write` turns an image folder, IDX files (Fashion-MNIST included) or COCO captions into
 * WebDataset shards in CLIP_benchmark's layout (classnames.txt, zeroshot_classification_templates.txt,
 * SPLIT/nshards.txt, SPLIT/{0..N-1}.tar, and SPLIT/sizes.json with each shard's sample count); `sizes`
 * prints the known sample count of each shard of a URL list and where it came from. */
#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/paths.h"
#include "bcos/shard_plan.h"
#include "bcos/shard_sizes.h"
#include "bcos/shards.h"
#include "bcos/urls.h"
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

static const char *const WRITE_USAGE =
    "usage: bcos shards write [JOB.json] --out DIR [--split NAME] SOURCE [OPTIONS]\n"
    "Writes WebDataset shards in CLIP_benchmark's layout: DIR/classnames.txt,\n"
    "DIR/zeroshot_classification_templates.txt, DIR/dataset_type.txt (classification, or retrieval\n"
    "for captions), DIR/SPLIT/{0..N-1}.tar, DIR/SPLIT/nshards.txt and\n"
    "DIR/SPLIT/sizes.json (samples per shard). Samples are keyed s0000000, s0000001, ... in writing order.\n"
    "SOURCE, one of:\n"
    "  --folder ROOT             ROOT/CLASS/.../IMAGE (.jpg .jpeg .png .webp); sorted class folder names\n"
    "                            give the labels; images are copied as they are, with a .cls label\n"
    "  --idx-images FILE --idx-labels FILE\n"
    "                            IDX files (gzipped or not) of uint8 images [N,H,W] and labels [N]; images\n"
    "                            are written as grey PNG; classes are named by number unless --classnames\n"
    "  --fashion-mnist[=DIR]     Fashion-MNIST from Debian's dataset-fashion-mnist (DIR: " FASHION_MNIST_DIR ")\n"
    "                            with its ten class names; --split train or test\n"
    "  --coco-images DIR --coco-captions FILE.json\n"
    "                            COCO-style captions: the image, .txt (its captions, one per line) and .json\n"
    "OPTIONS:\n"
    "  --split NAME              the split folder (default: test)\n"
    "  --classnames FILE         class names, one per line, instead of the folder names or label numbers\n"
    "  --templates FILE          zero-shot templates with {c}, one per line (default: 8 of OpenAI's)\n"
    "  --captions                also write a .txt caption per sample: template (index mod count) + class\n"
    "  --max-samples N           samples per shard (default: 10000)\n"
    "  --max-bytes SIZE          bytes per shard, suffix K, M or G (default: 1G)\n"
    "  --shuffle SEED            write the samples in an order shuffled by SEED (default: source order)\n"
    "  --force                   replace the shards of an earlier run in DIR/SPLIT\n"
    "JOB.json, {\"kind\": \"shards\", \"<option>\": value, ...}, gives options as a file; flags win over it.\n";

/* The options of `shards write`, from a job file {"kind": "shards", ...} and then the flags, which
 * win; an empty string is one not given. */
typedef struct {
    char out[OPTION_TEXT_MAX], split[OPTION_TEXT_MAX];
    char folder[OPTION_TEXT_MAX], idx_images[OPTION_TEXT_MAX], idx_labels[OPTION_TEXT_MAX];
    char fashion_mnist[OPTION_TEXT_MAX];
    char coco_images[OPTION_TEXT_MAX], coco_captions[OPTION_TEXT_MAX], classnames[OPTION_TEXT_MAX];
    char templates[OPTION_TEXT_MAX];
    int captions, force;
    int64_t max_samples, max_bytes, shuffle; /* shuffle: the seed, or -1 for the source order */
} write_options;

#define F(field) OPTION_AT(write_options, field)
static const option OPTIONS[] = {
    {"out", OPT_STR, F(out), JOB, "the dataset folder written", WRITES},
    {"split", OPT_STR, F(split), JOB, "the split folder", TEXT},
    {"folder", OPT_STR, F(folder), JOB, "source: ROOT/CLASS/.../IMAGE", READS},
    {"idx_images", OPT_STR, F(idx_images), JOB, "source: IDX file of uint8 images [N,H,W] (with idx_labels)", READS},
    {"idx_labels", OPT_STR, F(idx_labels), JOB, "IDX file of labels [N]", READS},
    {"fashion_mnist", OPT_STR, F(fashion_mnist), JOB,
     "source: the folder of Fashion-MNIST's IDX files (Debian: " FASHION_MNIST_DIR ")", READS_OR(FASHION_MNIST_DIR)},
    {"coco_images", OPT_STR, F(coco_images), JOB, "source: COCO images folder (with coco_captions)", READS},
    {"coco_captions", OPT_STR, F(coco_captions), JOB, "COCO captions JSON", READS},
    {"classnames", OPT_STR, F(classnames), JOB, "class names, one per line", READS},
    {"templates", OPT_STR, F(templates), JOB, "zero-shot templates with {c}, one per line", READS},
    {"captions", OPT_BOOL, F(captions), JOB, "also write a .txt caption per sample", SWITCH},
    {"max_samples", OPT_SIZE, F(max_samples), JOB, "samples per shard", FROM_TO(1, 0x1p40)},
    {"max_bytes", OPT_SIZE, F(max_bytes), JOB, "bytes per shard", FROM_TO(1, 0x1p50)},
    {"shuffle", OPT_I64, F(shuffle), JOB, "write the samples in an order shuffled by this seed", FROM_TO(0, EXACT_MAX)},
    {"force", OPT_BOOL, F(force), JOB, "replace the shards of an earlier run", SWITCH},
};
#undef F
static const option_table TABLE = {"shards write", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};

static void write_defaults(void *cfg) {
    *(write_options *)cfg = (write_options){.split = "test", .max_samples = 10000, .max_bytes = 1LL << 30, .shuffle = -1};
}

static option_kind KIND = {.table = &TABLE, .kind = "shards", .size = sizeof(write_options), .defaults = write_defaults,
                           .summary = "WebDataset shards in CLIP_benchmark's layout (bcos shards write)"};

const bcos_job_spec *cli_shards_job_spec(void) { return option_kind_spec(&KIND); }

static const char *const SIZES_USAGE =
    "usage: bcos shards sizes [--cache DIR] URLS\n"
    "Prints each shard's sample count and where it came from: the sizes.json beside the shards, the count\n"
    "cache (DIR, default $BCOS_CACHE_DIR, $XDG_CACHE_HOME/bcos or ~/.cache/bcos), or reading the shard\n"
    "(then cached). URLS: brace ranges, '::' between sources, http(s)://, file:// or paths.\n";

static const char *const SHARDS_USAGE = "usage: bcos shards write ...   ('bcos shards write --help')\n"
                                        "       bcos shards sizes ...   ('bcos shards sizes --help')\n";

/* A handful of OpenAI's ImageNet prompts: their "a photo of a {}." and the seven their prompt
 * engineering notebook found to work best together. */
static const char *const DEFAULT_TEMPLATES[] = {
    "a photo of a {c}.",       "itap of a {c}.", "a bad photo of the {c}.", "a origami {c}.",
    "a photo of the large {c}.", "a {c} in a video game.", "art of the {c}.", "a photo of the small {c}.",
};
#define N_DEFAULT_TEMPLATES (int)(sizeof DEFAULT_TEMPLATES / sizeof DEFAULT_TEMPLATES[0])

static void parse_write(int argc, char **argv, write_options *o) {
    cli_table_args(&KIND, WRITE_USAGE, o, argc, argv);
    if (!o->out[0]) bcos_fail("missing --out DIR");
    if (!*o->split || strchr(o->split, '/')) bcos_fail("--split '%s' is not a folder name", o->split);
    int idx = o->idx_images[0] || o->idx_labels[0], coco = o->coco_images[0] || o->coco_captions[0];
    if (!!o->folder[0] + idx + !!o->fashion_mnist[0] + coco != 1)
        bcos_fail("give one source: --folder, --idx-images/--idx-labels, --fashion-mnist or --coco-images/--coco-captions");
    if (idx && !(o->idx_images[0] && o->idx_labels[0])) bcos_fail("--idx-images and --idx-labels go together");
    if (coco && !(o->coco_images[0] && o->coco_captions[0])) bcos_fail("--coco-images and --coco-captions go together");
    if (coco && (o->classnames[0] || o->captions || o->templates[0]))
        bcos_fail("COCO captions have no classes: --classnames, --templates and --captions do not apply");
}

static void open_source(bcos_shard_source *src, const write_options *o) {
    char err[BCOS_ERRLEN];
    int rc = 0;
    if (o->folder[0]) rc = bcos_shard_source_folder(src, o->folder, err, sizeof err);
    if (o->coco_images[0]) rc = bcos_shard_source_coco(src, o->coco_images, o->coco_captions, err, sizeof err);
    if (o->idx_images[0]) rc = bcos_shard_source_idx(src, o->idx_images, o->idx_labels, err, sizeof err);
    if (o->fashion_mnist[0]) {
        char *images, *labels;
        if (bcos_fashion_mnist_paths(o->fashion_mnist, o->split, &images, &labels, err, sizeof err) != 0) bcos_fail("%s", err);
        rc = bcos_shard_source_idx(src, images, labels, err, sizeof err);
        if (rc == 0)
            rc = bcos_shard_source_rename_classes(src, (char *const *)BCOS_FASHION_MNIST_CLASSES, 10, err, sizeof err);
        free(images);
        free(labels);
    }
    if (rc != 0) bcos_fail("%s", err);
    if (o->classnames[0]) {
        int n;
        char **names = cli_read_lines(o->classnames, &n);
        if (bcos_shard_source_rename_classes(src, names, n, err, sizeof err) != 0) bcos_fail("%s", err);
        cli_free_strings(names);
    }
}

/* The captions of class sources: each template filled with each class name (template-major). */
static char **fill_captions(char *const *templates, int n_templates, char *const *classes, int n_classes) {
    char **captions = xcalloc((size_t)n_templates * (size_t)n_classes + 1, sizeof *captions);
    for (int t = 0; t < n_templates; t++)
        for (int c = 0; c < n_classes; c++) {
            captions[(size_t)t * (size_t)n_classes + (size_t)c] = bcos_fill_template(templates[t], classes[c]);
            BCOS_CHECK(captions[(size_t)t * (size_t)n_classes + (size_t)c], "templates are checked for {c} when read");
        }
    return captions;
}

/* The templates (a file's or the defaults), each checked for {c}. */
static char **load_templates(const char *path, int *n) {
    char **t;
    if (path) {
        t = cli_read_lines(path, n);
    } else {
        *n = N_DEFAULT_TEMPLATES;
        t = xcalloc((size_t)*n + 1, sizeof *t);
        for (int i = 0; i < *n; i++) t[i] = xstrdup(DEFAULT_TEMPLATES[i]);
    }
    for (int i = 0; i < *n; i++)
        if (!strstr(t[i], "{c}")) bcos_fail("%s: template '%s' has no {c} for the class name", path, t[i]);
    return t;
}

static void write_lines(const char *dir, const char *name, char *const *lines, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *text = xmalloc(len), *at = text;
    for (int i = 0; i < n; i++) at += sprintf(at, "%s\n", lines[i]);
    char *path = bcos_strfmt("%s/%s", dir, name), err[BCOS_ERRLEN];
    if (bcos_write_file_atomic(path, text, (size_t)(at - text), err, sizeof err) != 0) bcos_fail("%s", err);
    free(path);
    free(text);
}

/* Writes every sample of src, in order or shuffled, into the split folder; fails with one line. */
static void write_samples(const bcos_shard_source *src, const write_options *o, const char *split_dir) {
    if (src->count > INT32_MAX) bcos_fail("%ld samples: more than one run writes", src->count);
    int *order = xmalloc(((size_t)src->count + 1) * sizeof *order);
    if (o->shuffle >= 0) bcos_shard_permutation(order, (int)src->count, (uint64_t)o->shuffle, 0);
    else for (long i = 0; i < src->count; i++) order[i] = (int)i;
    char err[BCOS_ERRLEN];
    int shards;
    bcos_shard_limits limits = {(long)o->max_samples, o->max_bytes, o->force};
    if (bcos_shards_write(src, order, split_dir, &limits, &shards, err, sizeof err) != 0) bcos_fail("%s", err);
    fprintf(stderr, "wrote %ld samples in %d shards to %s\n", src->count, shards, split_dir);
    free(order);
}

int cmd_shards_write(int argc, char **argv) {
    write_options o;
    parse_write(argc, argv, &o);
    bcos_shard_source src;
    open_source(&src, &o);
    int n_templates = 0;
    char **templates = src.n_classes > 0 ? load_templates(cli_given(o.templates), &n_templates) : NULL;
    char **captions = NULL;
    if (o.captions) {
        captions = fill_captions(templates, n_templates, src.classes, src.n_classes);
        src.captions = captions, src.n_templates = n_templates;
    }
    char *split_dir = bcos_strfmt("%s/%s", o.out, o.split);
    write_samples(&src, &o, split_dir);
    /* CLIP_benchmark's dataset type: class labels are classification, captions alone retrieval */
    char *type[] = {src.n_classes > 0 ? "classification" : "retrieval"};
    write_lines(o.out, "dataset_type.txt", type, 1);
    if (src.n_classes > 0) {
        write_lines(o.out, "classnames.txt", src.classes, src.n_classes);
        write_lines(o.out, "zeroshot_classification_templates.txt", templates, n_templates);
    }
    cli_free_strings(captions);
    cli_free_strings(templates);
    bcos_shard_source_free(&src);
    free(split_dir);
    return 0;
}

static int shards_sizes(int argc, char **argv) {
    static const struct option options[] = {
        {"cache", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cache = NULL;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        if (c == 'c') cache = optarg;
        else if (c == 'h') return fputs(SIZES_USAGE, stdout), 0;
        else return fputs(SIZES_USAGE, stderr), 2;
    }
    if (optind != argc - 1) return fputs(SIZES_USAGE, stderr), 2;
    bcos_url_list list;
    char err[BCOS_ERRLEN];
    if (bcos_urls_expand(&list, argv[optind], err, sizeof err) != 0) bcos_fail("%s", err);
    if (list.count > INT32_MAX) bcos_fail("%ld shards: too many for one list", list.count);
    long *counts = xmalloc((size_t)list.count * sizeof *counts);
    bcos_size_source *sources = xmalloc((size_t)list.count * sizeof *sources);
    if (bcos_shard_sizes(counts, sources, (const char *const *)list.urls, (int)list.count, NULL, cache, NULL, err,
                         sizeof err) != 0)
        bcos_fail("%s", err);
    long total = 0;
    for (long i = 0; i < list.count; i++) {
        char *shown = bcos_url_redact(list.urls[i]);
        printf("%s\t%ld\t%s\n", shown, counts[i], bcos_size_source_name(sources[i]));
        free(shown);
        total += counts[i];
    }
    printf("total\t%ld\t%ld shards\n", total, list.count);
    free(counts);
    free(sources);
    bcos_urls_free(&list);
    return 0;
}

int cmd_shards(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "write") == 0) return cmd_shards_write(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sizes") == 0) return shards_sizes(argc - 1, argv + 1);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(SHARDS_USAGE, stdout);
        return 0;
    }
    fputs(SHARDS_USAGE, stderr);
    return 2;
}
