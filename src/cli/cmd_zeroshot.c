/* `bcos zeroshot`: the top classes of each image from class names and prompt templates, with a CLIP
 * or a B-cos student (its image tower against the teacher's text tower saved beside it). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/tokenizer.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos zeroshot --weights W.safetensors [--model CONFIG] (--classes a,b,c | --classes-file F)\n"
    "                     [--templates-file F] [--top K] [--pixel-order ORDER] [--] IMAGE...\n"
    "Templates hold '{c}' for the class name (default: \"a photo of a {c}.\").\n"
    "Prints, per image, the top K classes with their softmax probability.\n"
    "W is a CLIP, or a B-cos student: its B-cos image tower against the teacher's text tower it carries\n"
    "(--model is not used). Put -- before the images when a path starts with '-'.\n" CLI_PIXEL_ORDER_USAGE;

static void print_top(const char *path, const float *logits, char *const *classes, int K, int top) {
    double max = logits[0], sum = 0;
    for (int k = 1; k < K; k++)
        if (logits[k] > max) max = logits[k];
    for (int k = 0; k < K; k++) sum += exp(logits[k] - max);
    int *order = xmalloc((size_t)top * sizeof(int));
    bcos_topk(order, logits, K, top);
    printf("%s\n", path);
    for (int j = 0; j < top; j++)
        printf("  %6.2f%%  %s\n", 100.0 * exp(logits[order[j]] - max) / sum, classes[order[j]]);
    free(order);
}

/* emb[N,E] (heap): the CLIP's image embeddings of the images at paths. */
static float *image_embeddings(const bcos_clip *m, char *const *paths, int N, bcos_pixel_order order) {
    float *images = cli_load_images(paths, N, m->cfg.image_size, order);
    float *emb = xmalloc((size_t)N * m->cfg.embed_dim * sizeof(float));
    bcos_clip_encode_image(m, emb, images, N);
    free(images);
    return emb;
}

int cmd_zeroshot(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"weights", required_argument, 0, 'w'}, {"model", required_argument, 0, 'm'},
        {"classes", required_argument, 0, 'c'}, {"classes-file", required_argument, 0, 'C'},
        {"templates-file", required_argument, 0, 'T'}, {"top", required_argument, 0, 'k'},
        {"pixel-order", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *weights = NULL, *model = NULL, *classes_arg = NULL, *classes_file = NULL, *templates_file = NULL;
    const char *pixel_order = NULL;
    int top = 5, c;
    optind = 1;
    opterr = 0; /* one line of our own instead */
    while ((c = getopt_long(argc, argv, "w:m:c:C:T:k:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'w': weights = optarg; break;
        case 'm': model = optarg; break;
        case 'c': classes_arg = optarg; break;
        case 'C': classes_file = optarg; break;
        case 'T': templates_file = optarg; break;
        case 'k': top = atoi(optarg); break;
        case 'p': pixel_order = optarg; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: cli_bad_option("zeroshot", argc, argv);
        }
    }
    if (!classes_arg == !classes_file) bcos_fail("give exactly one of --classes and --classes-file");
    if (optind >= argc) bcos_fail("no images given (see 'bcos zeroshot --help')");
    if (top < 1) bcos_fail("--top must be a positive number");
    bcos_pixel_order order = cli_pixel_order(pixel_order);
    int K, NT;
    char **classes = classes_arg ? cli_split_list(classes_arg, &K) : cli_read_lines(classes_file, &K);
    char *default_templates[2] = {(char *)BCOS_DEFAULT_TEMPLATE, NULL};
    char **templates = templates_file ? cli_read_lines(templates_file, &NT) : default_templates;
    if (!templates_file) NT = 1;
    if (top > K) top = K;

    int student = cli_is_student(weights);
    bcos_clip m;
    cli_load_text_tower(&m, weights, model);
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int E = m.cfg.embed_dim, N = argc - optind;
    float *classifier = xmalloc((size_t)K * E * sizeof(float));
    char err[BCOS_ERRLEN];
    if (bcos_zeroshot_classifier(classifier, &m, tok, (const char *const *)classes, K,
                                 (const char *const *)templates, NT, err, sizeof err) != 0)
        bcos_fail("%s", err);
    float *emb = student ? cli_student_embeddings(weights, argv + optind, N, order, &E)
                         : image_embeddings(&m, argv + optind, N, order);
    float *logits = xmalloc((size_t)N * K * sizeof(float));
    bcos_zeroshot_logits(logits, emb, classifier, N, K, E);
    for (int i = 0; i < N; i++) print_top(argv[optind + i], logits + (size_t)i * K, classes, K, top);

    free(logits);
    free(emb);
    free(classifier);
    bcos_tokenizer_free(tok);
    bcos_clip_free(&m);
    if (templates_file) cli_free_strings(templates);
    cli_free_strings(classes);
    return 0;
}
