/* CLIP configs in open_clip's model_configs JSON schema: parsing, validation, and the configs
 * compiled into the binary (the JSON files of src/model/configs, embedded by the build). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "clip_internal.h"

extern const char *const bcos_embedded_config_names[];
extern const char *const bcos_embedded_config_texts[];

const char *const *bcos_clip_config_builtin_names(void) { return bcos_embedded_config_names; }

/* Keys of open_clip's schema that we implement; any other key changes the architecture in a way
 * this code does not follow, so it is refused rather than silently ignored. */
static const char *const TOP_KEYS[] = {"embed_dim", "quick_gelu", "vision_cfg", "text_cfg", NULL};
static const char *const VISION_KEYS[] = {"image_size", "layers", "width", "patch_size", "head_width", "mlp_ratio", NULL};
static const char *const TEXT_KEYS[] = {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio", NULL};

static int key_known(const char *key, const char *const *known) {
    for (int i = 0; known[i]; i++)
        if (strcmp(key, known[i]) == 0) return 1;
    return 0;
}

static int check_keys(const cJSON *obj, const char *const *known, const char *where, const char *name, char *err,
                      size_t errlen) {
    for (const cJSON *it = obj->child; it; it = it->next)
        if (!key_known(it->string, known)) {
            snprintf(err, errlen, "config %s: unsupported key '%s%s' (supported: the ViT and ResNet towers of open_clip's schema)",
                     name, where, it->string);
            return -1;
        }
    return 0;
}

/* Reads a positive integer (or a whole number written as float); missing -> fallback (0 = required). */
static int get_int(const cJSON *obj, const char *key, int fallback, int *out, const char *name, char *err,
                   size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (fallback > 0) {
            *out = fallback;
            return 0;
        }
        snprintf(err, errlen, "config %s: missing '%s'", name, key);
        return -1;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < 1 ||
        v->valuedouble > 1e6) {
        snprintf(err, errlen, "config %s: '%s' must be a positive integer", name, key);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int get_mlp(const cJSON *obj, int width, int *out, const char *name, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "mlp_ratio");
    double ratio = 4.0;
    if (v) {
        if (!cJSON_IsNumber(v) || v->valuedouble <= 0 || v->valuedouble > 64) {
            snprintf(err, errlen, "config %s: 'mlp_ratio' must be a positive number", name);
            return -1;
        }
        ratio = v->valuedouble;
    }
    *out = (int)(width * ratio); /* open_clip truncates: int(width * mlp_ratio) */
    return 0;
}

/* open_clip's ModifiedResNet: vision_cfg.layers is four block counts, patch_size absent or null. */
static int parse_resnet(bcos_clip_config *c, const cJSON *v, const cJSON *layers, const char *name, char *err,
                        size_t errlen) {
    int head_width;
    const cJSON *patch = cJSON_GetObjectItemCaseSensitive(v, "patch_size");
    if (cJSON_GetArraySize(layers) != 4 || (patch && !cJSON_IsNull(patch))) {
        snprintf(err, errlen, "config %s: a ResNet 'vision_cfg' has four 'layers' and a null 'patch_size'", name);
        return -1;
    }
    c->vision_tower = BCOS_TOWER_RESNET;
    for (int i = 0; i < 4; i++) {
        const cJSON *n = cJSON_GetArrayItem(layers, i);
        if (!cJSON_IsNumber(n) || n->valuedouble != (double)(int)n->valuedouble || n->valuedouble < 1 ||
            n->valuedouble > 1000) {
            snprintf(err, errlen, "config %s: 'vision_cfg.layers' must hold four positive integers", name);
            return -1;
        }
        c->resnet_layers[i] = (int)n->valuedouble;
        c->vision_layers += c->resnet_layers[i];
    }
    if (get_int(v, "image_size", 0, &c->image_size, name, err, errlen) ||
        get_int(v, "width", 0, &c->vision_width, name, err, errlen) ||
        get_int(v, "head_width", 64, &head_width, name, err, errlen))
        return -1;
    /* the stem halves the side twice and layer2..4 once each: the pool's map is image_size / 32 */
    if (c->image_size % 32 != 0) {
        snprintf(err, errlen, "config %s: a ResNet's image_size %d is not a multiple of 32", name, c->image_size);
        return -1;
    }
    if (c->vision_width % 2 != 0 || (c->vision_width * 32) % head_width != 0) {
        snprintf(err, errlen, "config %s: ResNet width %d is odd or width*32 is not a multiple of head_width %d",
                 name, c->vision_width, head_width);
        return -1;
    }
    c->vision_heads = c->vision_width * 32 / head_width;
    return 0;
}

static int parse_vision(bcos_clip_config *c, const cJSON *v, const char *name, char *err, size_t errlen) {
    int head_width;
    if (!cJSON_IsObject(v)) {
        snprintf(err, errlen, "config %s: 'vision_cfg' must be an object", name);
        return -1;
    }
    if (check_keys(v, VISION_KEYS, "vision_cfg.", name, err, errlen)) return -1;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(v, "layers");
    if (cJSON_IsArray(layers)) return parse_resnet(c, v, layers, name, err, errlen);
    if (get_int(v, "image_size", 0, &c->image_size, name, err, errlen) ||
        get_int(v, "layers", 0, &c->vision_layers, name, err, errlen) ||
        get_int(v, "width", 0, &c->vision_width, name, err, errlen) ||
        get_int(v, "patch_size", 0, &c->patch_size, name, err, errlen) ||
        get_int(v, "head_width", 64, &head_width, name, err, errlen) ||
        get_mlp(v, c->vision_width, &c->vision_mlp, name, err, errlen))
        return -1;
    if (c->image_size % c->patch_size != 0) {
        snprintf(err, errlen, "config %s: image_size %d is not a multiple of patch_size %d", name, c->image_size,
                 c->patch_size);
        return -1;
    }
    if (c->vision_width % head_width != 0) {
        snprintf(err, errlen, "config %s: vision width %d is not a multiple of head_width %d", name,
                 c->vision_width, head_width);
        return -1;
    }
    c->vision_heads = c->vision_width / head_width;
    return 0;
}

static int parse_text(bcos_clip_config *c, const cJSON *t, const char *name, char *err, size_t errlen) {
    if (!cJSON_IsObject(t)) {
        snprintf(err, errlen, "config %s: 'text_cfg' must be an object", name);
        return -1;
    }
    if (check_keys(t, TEXT_KEYS, "text_cfg.", name, err, errlen) ||
        get_int(t, "context_length", 77, &c->context_length, name, err, errlen) ||
        get_int(t, "vocab_size", 49408, &c->vocab_size, name, err, errlen) ||
        get_int(t, "width", 512, &c->text_width, name, err, errlen) ||
        get_int(t, "heads", 8, &c->text_heads, name, err, errlen) ||
        get_int(t, "layers", 12, &c->text_layers, name, err, errlen) ||
        get_mlp(t, c->text_width, &c->text_mlp, name, err, errlen))
        return -1;
    if (c->text_width % c->text_heads != 0) {
        snprintf(err, errlen, "config %s: text width %d is not a multiple of heads %d", name, c->text_width,
                 c->text_heads);
        return -1;
    }
    return 0;
}

int bcos_clip_config_parse(bcos_clip_config *cfg, const char *name, const char *json, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "%s", name);
    cJSON *root = cJSON_Parse(json);
    int rc = -1;
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "config %s: not a JSON object", name);
        goto done;
    }
    const cJSON *qg = cJSON_GetObjectItemCaseSensitive(root, "quick_gelu");
    if (qg && !cJSON_IsBool(qg)) {
        snprintf(err, errlen, "config %s: 'quick_gelu' must be true or false", name);
        goto done;
    }
    cfg->quick_gelu = qg && cJSON_IsTrue(qg);
    if (check_keys(root, TOP_KEYS, "", name, err, errlen) ||
        get_int(root, "embed_dim", 0, &cfg->embed_dim, name, err, errlen) ||
        parse_vision(cfg, cJSON_GetObjectItemCaseSensitive(root, "vision_cfg"), name, err, errlen) ||
        parse_text(cfg, cJSON_GetObjectItemCaseSensitive(root, "text_cfg"), name, err, errlen))
        goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int bcos_clip_config_load(bcos_clip_config *cfg, const char *name_or_path, char *err, size_t errlen) {
    for (int i = 0; bcos_embedded_config_names[i]; i++)
        if (strcmp(name_or_path, bcos_embedded_config_names[i]) == 0)
            return bcos_clip_config_parse(cfg, name_or_path, bcos_embedded_config_texts[i], err, errlen);
    char *text = bcos_read_file(name_or_path, NULL);
    if (!text) {
        size_t used = (size_t)snprintf(err, errlen, "config '%s': no such built-in config or file (built in:",
                                       name_or_path);
        for (int i = 0; bcos_embedded_config_names[i] && used < errlen; i++)
            used += (size_t)snprintf(err + used, errlen - used, " %s", bcos_embedded_config_names[i]);
        if (used < errlen) snprintf(err + used, errlen - used, ")");
        return -1;
    }
    const char *base = strrchr(name_or_path, '/');
    char name[64];
    snprintf(name, sizeof name, "%s", base ? base + 1 : name_or_path);
    char *dot = strrchr(name, '.');
    if (dot && strcmp(dot, ".json") == 0) *dot = '\0';
    int rc = bcos_clip_config_parse(cfg, name, text, err, errlen);
    free(text);
    return rc;
}

static void vit_to_json(cJSON *v, const bcos_clip_config *c) {
    cJSON_AddNumberToObject(v, "layers", c->vision_layers);
    cJSON_AddNumberToObject(v, "width", c->vision_width);
    cJSON_AddNumberToObject(v, "patch_size", c->patch_size);
    cJSON_AddNumberToObject(v, "head_width", c->vision_width / c->vision_heads);
    cJSON_AddNumberToObject(v, "mlp_ratio", (double)c->vision_mlp / c->vision_width);
}

char *bcos_clip_config_to_json(const bcos_clip_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "embed_dim", c->embed_dim);
    cJSON_AddBoolToObject(root, "quick_gelu", c->quick_gelu);
    cJSON *v = cJSON_AddObjectToObject(root, "vision_cfg");
    cJSON_AddNumberToObject(v, "image_size", c->image_size);
    if (c->vision_tower == BCOS_TOWER_RESNET) {
        cJSON_AddItemToObject(v, "layers", cJSON_CreateIntArray(c->resnet_layers, 4));
        cJSON_AddNumberToObject(v, "width", c->vision_width);
        cJSON_AddNullToObject(v, "patch_size");
        cJSON_AddNumberToObject(v, "head_width", c->vision_width * 32 / c->vision_heads);
    } else {
        vit_to_json(v, c);
    }
    cJSON *t = cJSON_AddObjectToObject(root, "text_cfg");
    cJSON_AddNumberToObject(t, "context_length", c->context_length);
    cJSON_AddNumberToObject(t, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(t, "width", c->text_width);
    cJSON_AddNumberToObject(t, "heads", c->text_heads);
    cJSON_AddNumberToObject(t, "layers", c->text_layers);
    cJSON_AddNumberToObject(t, "mlp_ratio", (double)c->text_mlp / c->text_width);
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could allocate");
    cJSON_Delete(root);
    return text;
}
