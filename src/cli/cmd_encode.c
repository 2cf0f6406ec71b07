/* `bcos encode-image` and `bcos encode-text`: CLIP embeddings printed or saved as safetensors; a
 * B-cos student's (a file written by `bcos distill`) too: its image tower, and its teacher's text tower. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/image.h"
#include "bcos/tokenizer.h"
#include "cli.h"

typedef struct {
    const char *weights, *model, *out, *pixel_order;
    int normalize;
} encode_opts;

static const char *const IMAGE_USAGE =
    "usage: bcos encode-image --weights W.safetensors [--model CONFIG] [--normalize] [--out E.safetensors]\n"
    "                         [--pixel-order ORDER] [--] IMAGE...\n"
    "Prints one line per image: the path, a tab, the embedding (or saves tensor 'image_embeddings').\n"
    "W is a CLIP, or a B-cos student written by 'bcos distill' (its image tower embeds; --model is not used).\n"
    "Put -- before the images when a path starts with '-'.\n" CLI_PIXEL_ORDER_USAGE;
static const char *const TEXT_USAGE =
    "usage: bcos encode-text --weights W.safetensors [--model CONFIG] [--normalize] [--out E.safetensors] [--]\n"
    "                        PROMPT...\n"
    "Prints one line per prompt: the prompt, a tab, the embedding (or saves tensor 'text_embeddings').\n"
    "W is a CLIP, or a B-cos student (the teacher's text tower it carries embeds; --model is not used).\n"
    "Put -- before the prompts when one starts with '-': encode-text --weights W -- \"-1 degrees\".\n";

/* Parses the shared options; returns the index of the first positional argument. */
static int parse_encode_opts(encode_opts *o, int argc, char **argv, const char *usage) {
    static const struct option long_opts[] = {{"weights", required_argument, 0, 'w'},
                                              {"model", required_argument, 0, 'm'},
                                              {"out", required_argument, 0, 'o'},
                                              {"normalize", no_argument, 0, 'n'},
                                              {"pixel-order", required_argument, 0, 'p'},
                                              {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    *o = (encode_opts){0};
    int c;
    optind = 1;
    opterr = 0; /* one line of our own instead */
    while ((c = getopt_long(argc, argv, "w:m:o:nh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'w': o->weights = optarg; break;
        case 'm': o->model = optarg; break;
        case 'o': o->out = optarg; break;
        case 'n': o->normalize = 1; break;
        case 'p': o->pixel_order = optarg; break;
        case 'h': fputs(usage, stdout); exit(0);
        default: cli_bad_option(argv[0], argc, argv);
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        bcos_fail("nothing to encode");
    }
    return optind;
}

/* images[N,3,S,S]: every path decoded and preprocessed to the model's image size. */
float *cli_load_images(char *const *paths, int N, int S, bcos_pixel_order order) {
    float *images = xmalloc((size_t)N * 3 * S * S * sizeof(float));
    uint8_t *crop = xmalloc((size_t)S * S * 3);
    for (int i = 0; i < N; i++) {
        char err[BCOS_ERRLEN];
        if (bcos_clip_eval_file_crop(crop, paths[i], S, order, err, sizeof err) != 0) bcos_fail("%s", err);
        bcos_clip_normalize(images + (size_t)i * 3 * S * S, crop, S, bcos_clip_mean, bcos_clip_std);
    }
    free(crop);
    return images;
}

int cmd_encode_image(int argc, char **argv) {
    encode_opts o;
    int first = parse_encode_opts(&o, argc, argv, IMAGE_USAGE);
    int N = argc - first, E;
    bcos_pixel_order order = cli_pixel_order(o.pixel_order);
    if (cli_is_student(o.weights)) {
        float *emb = cli_student_embeddings(o.weights, argv + first, N, order, &E);
        if (o.normalize) bcos_l2_normalize_rows(emb, N, E);
        cli_emit_embeddings("image_embeddings", emb, N, E, argv + first, o.out);
        free(emb);
        return 0;
    }
    bcos_clip m;
    cli_load_clip(&m, o.weights, o.model);
    E = m.cfg.embed_dim;
    float *images = cli_load_images(argv + first, N, m.cfg.image_size, order);
    float *emb = xmalloc((size_t)N * E * sizeof(float));
    bcos_clip_encode_image(&m, emb, images, N);
    if (o.normalize) bcos_l2_normalize_rows(emb, N, E);
    cli_emit_embeddings("image_embeddings", emb, N, E, argv + first, o.out);
    free(emb);
    free(images);
    bcos_clip_free(&m);
    return 0;
}

int cmd_encode_text(int argc, char **argv) {
    encode_opts o;
    int first = parse_encode_opts(&o, argc, argv, TEXT_USAGE);
    if (o.pixel_order) bcos_fail("encode-text takes no --pixel-order (it reads no image)");
    bcos_clip m;
    cli_load_text_tower(&m, o.weights, o.model);
    int N = argc - first, E = m.cfg.embed_dim, L = m.cfg.context_length;
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int32_t *ids = xmalloc((size_t)N * L * sizeof(int32_t));
    for (int i = 0; i < N; i++) bcos_tokenize(tok, argv[first + i], L, ids + (size_t)i * L);
    float *emb = xmalloc((size_t)N * E * sizeof(float));
    bcos_clip_encode_text(&m, emb, ids, N);
    if (o.normalize) bcos_l2_normalize_rows(emb, N, E);
    cli_emit_embeddings("text_embeddings", emb, N, E, argv + first, o.out);
    free(emb);
    free(ids);
    bcos_tokenizer_free(tok);
    bcos_clip_free(&m);
    return 0;
}
