/* CLIP: configs in open_clip's model_configs schema, the parameter table in open_clip naming,
 * weights from open_clip or Hugging Face transformers safetensors files, and the image and text
 * towers' forward passes on a backend. */
#ifndef BCOS_CLIP_H
#define BCOS_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/backend.h"
#include "bcos/params.h"
#include "bcos/safetensors.h"

/* The kind of image tower: a config's vision_cfg.layers is a number (a ViT) or four numbers (open_clip's
 * ModifiedResNet, the RN configs). */
typedef enum { BCOS_TOWER_VIT, BCOS_TOWER_RESNET } bcos_tower_kind;

typedef struct {
    char name[64];
    int embed_dim;
    int quick_gelu; /* 1: x*sigmoid(1.702x) (OpenAI weights), 0: GELU erf (LAION weights) */
    /* vision tower. A ResNet has patch_size 0 and vision_mlp 0, vision_layers its blocks in all,
     * vision_width the stem's width (64 for RN50; the map entering the pool has 32 times that) and
     * vision_heads the attention pool's heads (width * 32 / head_width) */
    bcos_tower_kind vision_tower;
    int image_size, patch_size, vision_width, vision_layers, vision_heads, vision_mlp;
    int resnet_layers[4]; /* ResNet: Bottleneck blocks in layer1..layer4 */
    /* text tower */
    int context_length, vocab_size, text_width, text_layers, text_heads, text_mlp;
} bcos_clip_config;

/* Parse open_clip model_configs JSON. Returns 0, or -1 with a one-line message naming the key. */
int bcos_clip_config_parse(bcos_clip_config *cfg, const char *name, const char *json, char *err, size_t errlen);
/* A config compiled into the binary by name ("ViT-B-16", "bcos-tiny", ...), or a path to a JSON file.
 * Returns 0, or -1 with err listing the known names. */
int bcos_clip_config_load(bcos_clip_config *cfg, const char *name_or_path, char *err, size_t errlen);
/* Names of the built-in configs, NULL-terminated. */
const char *const *bcos_clip_config_builtin_names(void);

/* Parameter indices of one pre-norm residual block. */
typedef struct {
    int ln_1_w, ln_1_b, in_proj_w, in_proj_b, out_proj_w, out_proj_b;
    int ln_2_w, ln_2_b, c_fc_w, c_fc_b, c_proj_w, c_proj_b;
} bcos_clip_block;

/* The tower-independent description of a transformer stack: where its parameters are. */
typedef struct {
    int width, layers, heads, mlp;
    bcos_clip_block *blocks;
} bcos_clip_stack;

/* Parameter indices of a BatchNorm2d, used in evaluation mode (running statistics). */
typedef struct {
    int weight, bias, running_mean, running_var;
} bcos_clip_bn;

/* One Bottleneck block of open_clip's ModifiedResNet: 1x1 conv1, 3x3 conv2, avgpool(stride) when
 * stride > 1, 1x1 conv3 to 4*planes channels, each conv followed by its BatchNorm (and a ReLU, the last
 * after the residual sum); the downsample path (avgpool(stride), 1x1 conv, BatchNorm) when the stride
 * or the channels change, else the identity. */
typedef struct {
    int inplanes, planes, stride, downsample; /* downsample 0: no downsample path */
    int conv1, conv2, conv3, down_conv;
    bcos_clip_bn bn1, bn2, bn3, down_bn;
} bcos_clip_bottleneck;

/* The ResNet image tower: the stem (three 3x3 convs, the first of stride 2, then a 2x2 avgpool), the
 * blocks of layer1..layer4 in order, and the attention pool. */
typedef struct {
    int stem_conv[3];
    bcos_clip_bn stem_bn[3];
    int nblocks;
    bcos_clip_bottleneck *blocks;
    int pool_pos, q_w, q_b, k_w, k_b, v_w, v_b, c_w, c_b;
} bcos_clip_resnet;

typedef struct {
    bcos_clip_config cfg;
    bcos_params params; /* open_clip names; visual.proj and text_projection stored as [embed, width] */
    const bcos_backend *backend;
    bcos_clip_stack vision, text;
    /* the ViT tower's tensors (-1 for a ResNet tower, whose tensors are in resnet) */
    int conv1, class_embedding, vision_pos, ln_pre_w, ln_pre_b, ln_post_w, ln_post_b, visual_proj;
    bcos_clip_resnet resnet;
    int token_embedding, text_pos, ln_final_w, ln_final_b, text_projection, logit_scale;
} bcos_clip;

/* Declare and allocate (zeroed) every parameter for cfg. */
void bcos_clip_init(bcos_clip *m, const bcos_clip_config *cfg, const bcos_backend *backend);
void bcos_clip_free(bcos_clip *m);

typedef enum { BCOS_NAMING_OPENCLIP, BCOS_NAMING_HF, BCOS_NAMING_UNKNOWN } bcos_naming;
const char *bcos_naming_str(bcos_naming naming);
bcos_naming bcos_clip_detect_naming(const bcos_safetensors *st);
/* 1 when st holds every tensor of cfg with the right shape (in either naming), else 0. */
int bcos_clip_file_matches(const bcos_safetensors *st, const bcos_clip_config *cfg);
/* For a file that matches no built-in config: "nearest is NAME (P% of its tensors): WHY", the config with
 * the largest share of its tensors in st with their shapes and the first thing that keeps it from
 * matching; "" when no config shares a tensor with st. */
void bcos_clip_nearest_config(const bcos_safetensors *st, char *out, size_t outlen);
/* Open path, choose the config (cfg_name, else the file's "bcos_model" metadata, else the one
 * built-in config whose shapes match), init and load. Returns 0 or -1 with err. */
int bcos_clip_load_file(bcos_clip *m, const char *path, const char *cfg_name, const bcos_backend *backend,
                        char *err, size_t errlen);
/* Write m in open_clip naming (F32) with its config name in metadata. */
int bcos_clip_save(const bcos_clip *m, const char *path, char *err, size_t errlen);

/* m's tensors as safetensors entries in open_clip naming (projections transposed back into owned
 * buffers), all of them or the text tower's only; valid while m lives. */
typedef struct {
    bcos_st_entry *entries;
    int count;
    char (*names)[160];
    int64_t (*shapes)[BCOS_MAX_DIMS];
    float *transposed;
} bcos_clip_export;
void bcos_clip_export_openclip(bcos_clip_export *x, const bcos_clip *m, int text_only);
/* A buffer laid out as m's parameters (its weights, or an optimiser's state such as Adam's m and v)
 * as entries named "<prefix><open_clip name>", the projections transposed as in the file. */
void bcos_clip_export_buffer(bcos_clip_export *x, const bcos_clip *m, const float *flat, const char *prefix);
void bcos_clip_export_free(bcos_clip_export *x);
/* The reverse: every "<prefix><open_clip name>" of st into flat (other tensors may be there too).
 * Returns 0, or -1 with err naming the tensor (missing, wrong shape or dtype, not finite). */
int bcos_clip_read_buffer(const bcos_clip *m, const bcos_safetensors *st, const char *prefix, float *flat, char *err,
                          size_t errlen);

/* out[B,embed] = image embeddings of images[B,3,S,S] (normalised pixels, S = image_size). */
void bcos_clip_encode_image(const bcos_clip *m, float *out, const float *images, int B);
/* The floats bcos_clip_encode_image allocates for a batch of B (its working memory). */
size_t bcos_clip_encode_image_floats(const bcos_clip_config *c, int B);
/* out[B,embed] = text embeddings of ids[B,context_length] (SOT ... EOT, zero padded). */
void bcos_clip_encode_text(const bcos_clip *m, float *out, const int32_t *ids, int B);

#endif
