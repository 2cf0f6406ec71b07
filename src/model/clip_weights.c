/* CLIP weights in safetensors files: the two naming schemes (open_clip's state_dict and Hugging
 * Face transformers' CLIPModel), detection, shape checks that name the culprit, loading into the
 * parameter table, and saving in open_clip naming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "clip_internal.h"

typedef enum { MAP_COPY, MAP_TRANSPOSE, MAP_ROWS } map_kind;

/* One tensor of a file and where it goes: the whole parameter, its transpose, or a block of rows
 * (Hugging Face splits open_clip's in_proj into q/k/v). */
typedef struct {
    char file_name[160];
    int param;
    map_kind kind;
    int row0;
    int ndim;
    int64_t shape[BCOS_MAX_DIMS]; /* as stored in the file */
} name_entry;

typedef struct {
    name_entry *items;
    int count, cap;
} name_map;

static name_entry *map_add(name_map *map, const bcos_params *p, int param, map_kind kind, const char *file_name) {
    if (map->count == map->cap) {
        map->cap = map->cap ? 2 * map->cap : 256;
        map->items = xrealloc(map->items, (size_t)map->cap * sizeof *map->items);
    }
    name_entry *e = &map->items[map->count++];
    memset(e, 0, sizeof *e);
    snprintf(e->file_name, sizeof e->file_name, "%s", file_name);
    e->param = param;
    e->kind = kind;
    const bcos_param *t = &p->items[param];
    e->ndim = t->ndim;
    memcpy(e->shape, t->shape, sizeof e->shape);
    if (kind == MAP_TRANSPOSE) {
        e->shape[0] = t->shape[1];
        e->shape[1] = t->shape[0];
    }
    return e;
}

/* A third of an in_proj weight [3W, W] or bias [3W]: rows part*W .. (part+1)*W. */
static void map_add_qkv(name_map *map, const bcos_params *p, int param, int part, const char *file_name) {
    name_entry *e = map_add(map, p, param, MAP_ROWS, file_name);
    e->shape[0] /= 3;
    e->row0 = part * (int)e->shape[0];
}

/* open_clip's names, after prefix ("exp_avg." for an optimiser's state laid out as the weights). */
static void map_openclip(name_map *map, const bcos_clip *m, const char *prefix) {
    const bcos_params *p = &m->params;
    char name[160];
    for (int i = 0; i < p->count; i++) {
        int transposed = i == m->visual_proj || i == m->text_projection;
        snprintf(name, sizeof name, "%s%s", prefix, p->items[i].name);
        map_add(map, p, i, transposed ? MAP_TRANSPOSE : MAP_COPY, name);
    }
}

static void map_hf_stack(name_map *map, const bcos_params *p, const bcos_clip_stack *s, const char *tower) {
    static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
    char name[160];
#define HF(field, suffix)                                                          \
    snprintf(name, sizeof name, "%s.encoder.layers.%d.%s", tower, l, suffix);     \
    map_add(map, p, b->field, MAP_COPY, name)
    for (int l = 0; l < s->layers; l++) {
        const bcos_clip_block *b = &s->blocks[l];
        HF(ln_1_w, "layer_norm1.weight");
        HF(ln_1_b, "layer_norm1.bias");
        for (int part = 0; part < 3; part++) {
            snprintf(name, sizeof name, "%s.encoder.layers.%d.self_attn.%s.weight", tower, l, qkv[part]);
            map_add_qkv(map, p, b->in_proj_w, part, name);
            snprintf(name, sizeof name, "%s.encoder.layers.%d.self_attn.%s.bias", tower, l, qkv[part]);
            map_add_qkv(map, p, b->in_proj_b, part, name);
        }
        HF(out_proj_w, "self_attn.out_proj.weight");
        HF(out_proj_b, "self_attn.out_proj.bias");
        HF(ln_2_w, "layer_norm2.weight");
        HF(ln_2_b, "layer_norm2.bias");
        HF(c_fc_w, "mlp.fc1.weight");
        HF(c_fc_b, "mlp.fc1.bias");
        HF(c_proj_w, "mlp.fc2.weight");
        HF(c_proj_b, "mlp.fc2.bias");
    }
#undef HF
}

static void map_hf(name_map *map, const bcos_clip *m) {
    const bcos_params *p = &m->params;
    map_add(map, p, m->class_embedding, MAP_COPY, "vision_model.embeddings.class_embedding");
    map_add(map, p, m->conv1, MAP_COPY, "vision_model.embeddings.patch_embedding.weight");
    map_add(map, p, m->vision_pos, MAP_COPY, "vision_model.embeddings.position_embedding.weight");
    map_add(map, p, m->ln_pre_w, MAP_COPY, "vision_model.pre_layrnorm.weight");
    map_add(map, p, m->ln_pre_b, MAP_COPY, "vision_model.pre_layrnorm.bias");
    map_hf_stack(map, p, &m->vision, "vision_model");
    map_add(map, p, m->ln_post_w, MAP_COPY, "vision_model.post_layernorm.weight");
    map_add(map, p, m->ln_post_b, MAP_COPY, "vision_model.post_layernorm.bias");
    map_add(map, p, m->visual_proj, MAP_COPY, "visual_projection.weight");
    map_add(map, p, m->token_embedding, MAP_COPY, "text_model.embeddings.token_embedding.weight");
    map_add(map, p, m->text_pos, MAP_COPY, "text_model.embeddings.position_embedding.weight");
    map_hf_stack(map, p, &m->text, "text_model");
    map_add(map, p, m->ln_final_w, MAP_COPY, "text_model.final_layer_norm.weight");
    map_add(map, p, m->ln_final_b, MAP_COPY, "text_model.final_layer_norm.bias");
    map_add(map, p, m->text_projection, MAP_COPY, "text_projection.weight");
    map_add(map, p, m->logit_scale, MAP_COPY, "logit_scale");
}

static void map_build(name_map *map, const bcos_clip *m, bcos_naming naming) {
    memset(map, 0, sizeof *map);
    if (naming == BCOS_NAMING_HF)
        map_hf(map, m);
    else
        map_openclip(map, m, "");
}

static int is_vision_name(const char *name) { return strncmp(name, "visual.", 7) == 0; }

/* Keep only the text tower's entries (a B-cos student file holds its own visual.* tensors). */
static void map_keep_text(name_map *map) {
    int kept = 0;
    for (int i = 0; i < map->count; i++)
        if (!is_vision_name(map->items[i].file_name)) map->items[kept++] = map->items[i];
    map->count = kept;
}

static int ends_with(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* Buffers saved beside the weights that carry nothing we use: transformers' position ids, and the
 * step counter of PyTorch's BatchNorm (int64; evaluation mode does not read it). */
static int ignorable(const char *name) {
    return ends_with(name, ".position_ids") || ends_with(name, ".num_batches_tracked");
}

const char *bcos_naming_str(bcos_naming naming) {
    return naming == BCOS_NAMING_OPENCLIP ? "open_clip" : naming == BCOS_NAMING_HF ? "transformers" : "unknown";
}

bcos_naming bcos_clip_detect_naming(const bcos_safetensors *st) {
    if (bcos_st_find(st, "visual.conv1.weight")) return BCOS_NAMING_OPENCLIP;
    if (bcos_st_find(st, "vision_model.embeddings.patch_embedding.weight")) return BCOS_NAMING_HF;
    return BCOS_NAMING_UNKNOWN;
}

static int shape_equal(const bcos_st_tensor *t, const name_entry *e) {
    if (t->ndim != e->ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (t->shape[i] != e->shape[i]) return 0;
    return 1;
}

/* Checks presence and shape of every mapped tensor. */
static int check_present(const bcos_safetensors *st, const name_map *map, const char *cfg_name, char *err,
                         size_t errlen) {
    char want[96], have[96];
    for (int i = 0; i < map->count; i++) {
        const name_entry *e = &map->items[i];
        const bcos_st_tensor *t = bcos_st_find(st, e->file_name);
        if (!t) {
            snprintf(err, errlen, "tensor '%s' is missing (expected shape %s for config %s)", e->file_name,
                     bcos_shape_str(want, sizeof want, e->ndim, e->shape), cfg_name);
            return -1;
        }
        if (!shape_equal(t, e)) {
            snprintf(err, errlen, "tensor '%s' has shape %s, expected %s for config %s", e->file_name,
                     bcos_shape_str(have, sizeof have, t->ndim, t->shape),
                     bcos_shape_str(want, sizeof want, e->ndim, e->shape), cfg_name);
            return -1;
        }
    }
    return 0;
}

/* Checks presence and shape of every mapped tensor, and that nothing unexpected is in the file. */
static int check_file(const bcos_safetensors *st, const name_map *map, int text_only, const char *cfg_name,
                      char *err, size_t errlen) {
    if (check_present(st, map, cfg_name, err, errlen) != 0) return -1;
    for (int i = 0; i < st->count; i++) {
        const char *name = st->tensors[i].name;
        int found = ignorable(name) || (text_only && is_vision_name(name));
        for (int j = 0; j < map->count && !found; j++) found = strcmp(map->items[j].file_name, name) == 0;
        if (!found) {
            snprintf(err, errlen, "unexpected tensor '%s' (not part of config %s)", name, cfg_name);
            return -1;
        }
    }
    return 0;
}

static void place(float *param, const float *src, const name_entry *e) {
    if (e->kind == MAP_TRANSPOSE) {
        int64_t rows = e->shape[0], cols = e->shape[1];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) param[c * rows + r] = src[r * cols + c];
        return;
    }
    size_t numel = 1, row = 1;
    for (int i = 0; i < e->ndim; i++) numel *= (size_t)e->shape[i];
    for (int i = 1; i < e->ndim; i++) row *= (size_t)e->shape[i];
    memcpy(param + (size_t)e->row0 * row, src, numel * sizeof(float));
}

/* transformers' CLIPModel has no ResNet tower: its naming describes ViTs only. */
static int naming_fits(bcos_naming naming, const bcos_clip_config *cfg) {
    return naming == BCOS_NAMING_OPENCLIP || (naming == BCOS_NAMING_HF && cfg->vision_tower == BCOS_TOWER_VIT);
}

/* How many of map's tensors st holds with their shapes. */
static int count_present(const bcos_safetensors *st, const name_map *map) {
    int n = 0;
    for (int i = 0; i < map->count; i++) {
        const bcos_st_tensor *t = bcos_st_find(st, map->items[i].file_name);
        n += t && shape_equal(t, &map->items[i]);
    }
    return n;
}

/* 1 when st is a file of cfg; else 0, with why and the share of cfg's tensors present (either may be NULL). */
static int file_fits(const bcos_safetensors *st, const bcos_clip_config *cfg, double *share, char *why, size_t whylen) {
    bcos_naming naming = bcos_clip_detect_naming(st);
    if (share) *share = 0;
    if (!naming_fits(naming, cfg)) return 0;
    bcos_clip m;
    bcos_clip_declare(&m, cfg); /* the shapes, without the memory of the weights */
    name_map map;
    map_build(&map, &m, naming);
    char err[BCOS_ERRLEN];
    int ok = check_file(st, &map, 0, cfg->name, err, sizeof err) == 0;
    if (share && map.count > 0) *share = (double)count_present(st, &map) / map.count;
    if (why) snprintf(why, whylen, "%s", ok ? "" : err);
    free(map.items);
    bcos_clip_free(&m);
    return ok;
}

int bcos_clip_file_matches(const bcos_safetensors *st, const bcos_clip_config *cfg) {
    return file_fits(st, cfg, NULL, NULL, 0);
}

void bcos_clip_nearest_config(const bcos_safetensors *st, char *out, size_t outlen) {
    const char *const *names = bcos_clip_config_builtin_names();
    double best = 0;
    snprintf(out, outlen, "%s", "");
    for (int i = 0; names[i]; i++) {
        bcos_clip_config c;
        char why[BCOS_ERRLEN];
        double share;
        if (bcos_clip_config_load(&c, names[i], why, sizeof why) != 0) continue;
        if (!file_fits(st, &c, &share, why, sizeof why) && share > best) {
            best = share;
            snprintf(out, outlen, "nearest is %s (%.0f%% of its tensors): %s", names[i], 100 * share, why);
        }
    }
}

/* Copy the tensors of map from st into flat (laid out as m's parameters), checked first: strictly
 * (nothing unexpected in the file) or only for presence and shape. */
static int read_mapped(const bcos_clip *m, float *flat, const bcos_safetensors *st, const name_map *map, int strict,
                       int text_only, char *err, size_t errlen) {
    int rc = strict ? check_file(st, map, text_only, m->cfg.name, err, errlen)
                    : check_present(st, map, m->cfg.name, err, errlen);
    float *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < map->count && rc == 0; i++) {
        const name_entry *e = &map->items[i];
        const bcos_st_tensor *t = bcos_st_find(st, e->file_name);
        if (t->numel > cap) buf = xrealloc(buf, (cap = t->numel) * sizeof(float));
        char why[BCOS_ERRLEN];
        if (bcos_st_to_f32(t, buf, why, sizeof why) != 0) {
            snprintf(err, errlen, "tensor '%s': %s", e->file_name, why);
            rc = -1;
            break;
        }
        if (bcos_check_finite(e->file_name, buf, t->numel, err, errlen) != 0) {
            rc = -1;
            break;
        }
        place(flat + m->params.items[e->param].offset, buf, e);
    }
    free(buf);
    return rc;
}

/* Copy weights from an opened file into m. Returns 0, or -1 with err naming the tensor and the
 * expected shape (missing, wrong shape, unsupported dtype, or unexpected tensor). */
static int load_weights(bcos_clip *m, const bcos_safetensors *st, char *err, size_t errlen) {
    bcos_naming naming = bcos_clip_detect_naming(st);
    if (naming == BCOS_NAMING_UNKNOWN) {
        snprintf(err, errlen, "neither open_clip nor transformers CLIP naming (no 'visual.conv1.weight' or "
                              "'vision_model.embeddings.patch_embedding.weight')");
        return -1;
    }
    if (!naming_fits(naming, &m->cfg)) {
        snprintf(err, errlen, "transformers naming, but config %s is a ResNet (transformers has no ResNet CLIP)",
                 m->cfg.name);
        return -1;
    }
    name_map map;
    map_build(&map, m, naming);
    int rc = read_mapped(m, m->params.data, st, &map, 1, 0, err, errlen);
    free(map.items);
    return rc;
}

int bcos_clip_load_text(bcos_clip *m, const bcos_safetensors *st, char *err, size_t errlen) {
    name_map map;
    map_build(&map, m, BCOS_NAMING_OPENCLIP);
    map_keep_text(&map);
    int rc = read_mapped(m, m->params.data, st, &map, 1, 1, err, errlen);
    free(map.items);
    return rc;
}

/* Chooses the config for a file: explicit name, the file's own metadata, or a unique shape match. */
static int choose_config(bcos_clip_config *cfg, const bcos_safetensors *st, const char *path, const char *cfg_name,
                         char *err, size_t errlen) {
    if (!cfg_name) cfg_name = bcos_st_meta_get(st, "bcos_model");
    if (cfg_name) return bcos_clip_config_load(cfg, cfg_name, err, errlen);
    const char *const *names = bcos_clip_config_builtin_names();
    int matches = 0;
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        bcos_clip_config c;
        if (bcos_clip_config_load(&c, names[i], err, errlen) != 0) return -1;
        if (!bcos_clip_file_matches(st, &c)) continue;
        if (matches++ == 0) *cfg = c;
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", names[i]);
    }
    if (matches == 1) return 0;
    if (matches == 0) {
        char nearest[BCOS_ERRLEN];
        bcos_clip_nearest_config(st, nearest, sizeof nearest);
        snprintf(err, errlen, "%s: matches no built-in CLIP config%s%s (see 'bcos weights info %s'; or pass --model "
                 "CONFIG.json)", path, nearest[0] ? "; " : "", nearest, path);
    }
    else
        snprintf(err, errlen, "%s: shapes match several configs (%s); choose one with --model", path, list);
    return -1;
}

int bcos_clip_load_file(bcos_clip *m, const char *path, const char *cfg_name, const bcos_backend *backend,
                        char *err, size_t errlen) {
    bcos_safetensors st;
    if (bcos_st_open(&st, path, err, errlen) != 0) return -1;
    bcos_clip_config cfg;
    int rc = choose_config(&cfg, &st, path, cfg_name, err, errlen);
    if (rc == 0) {
        bcos_clip_init(m, &cfg, backend);
        char why[BCOS_ERRLEN];
        rc = load_weights(m, &st, why, sizeof why);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            bcos_clip_free(m);
        }
    }
    bcos_st_close(&st);
    return rc;
}

int bcos_clip_read_buffer(const bcos_clip *m, const bcos_safetensors *st, const char *prefix, float *flat, char *err,
                          size_t errlen) {
    name_map map = {0};
    map_openclip(&map, m, prefix);
    int rc = read_mapped(m, flat, st, &map, 0, 0, err, errlen);
    free(map.items);
    return rc;
}

/* The entries of map over flat (laid out as m's parameters). */
static void export_mapped(bcos_clip_export *x, const bcos_clip *m, const float *flat, const name_map *map) {
    x->count = map->count;
    x->entries = xcalloc((size_t)map->count, sizeof *x->entries);
    x->names = xcalloc((size_t)map->count, sizeof *x->names);
    x->shapes = xcalloc((size_t)map->count, sizeof *x->shapes);
    size_t transposed_floats = 0;
    for (int i = 0; i < map->count; i++)
        if (map->items[i].kind == MAP_TRANSPOSE) transposed_floats += m->params.items[map->items[i].param].numel;
    x->transposed = xmalloc((transposed_floats ? transposed_floats : 1) * sizeof(float));
    float *next = x->transposed;
    for (int i = 0; i < map->count; i++) {
        const name_entry *e = &map->items[i];
        const bcos_param *t = &m->params.items[e->param];
        const float *data = flat + t->offset;
        if (e->kind == MAP_TRANSPOSE) { /* back to open_clip's [width, embed] */
            for (int64_t r = 0; r < t->shape[0]; r++)
                for (int64_t c = 0; c < t->shape[1]; c++) next[c * t->shape[0] + r] = data[r * t->shape[1] + c];
            data = next;
            next += t->numel;
        }
        memcpy(x->names[i], e->file_name, sizeof x->names[i]);
        memcpy(x->shapes[i], e->shape, sizeof x->shapes[i]);
        x->entries[i] = (bcos_st_entry){x->names[i], BCOS_F32, e->ndim, x->shapes[i], data};
    }
}

void bcos_clip_export_openclip(bcos_clip_export *x, const bcos_clip *m, int text_only) {
    name_map map;
    map_build(&map, m, BCOS_NAMING_OPENCLIP);
    if (text_only) map_keep_text(&map);
    export_mapped(x, m, m->params.data, &map);
    free(map.items);
}

void bcos_clip_export_buffer(bcos_clip_export *x, const bcos_clip *m, const float *flat, const char *prefix) {
    name_map map = {0};
    map_openclip(&map, m, prefix);
    export_mapped(x, m, flat, &map);
    free(map.items);
}

void bcos_clip_export_free(bcos_clip_export *x) {
    free(x->transposed);
    free(x->shapes);
    free(x->names);
    free(x->entries);
    memset(x, 0, sizeof *x);
}

int bcos_clip_save(const bcos_clip *m, const char *path, char *err, size_t errlen) {
    bcos_clip_export x;
    bcos_clip_export_openclip(&x, m, 0);
    bcos_st_meta meta[1] = {{"bcos_model", m->cfg.name}};
    int rc = bcos_st_write(path, x.entries, x.count, meta, 1, err, errlen);
    bcos_clip_export_free(&x);
    return rc;
}
