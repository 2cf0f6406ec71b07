/* Saving and loading the B-cos student: safetensors in open_clip's visual.* naming, with the CLIP
 * config and the B-cos options in the metadata and in a small JSON file beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/bcos.h"
#include "bcos/check.h"

static char *options_to_json(const bcos_student_options *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "b", o->b);
    cJSON_AddNumberToObject(root, "b_ramp_steps", (double)o->b_ramp_steps);
    cJSON_AddBoolToObject(root, "keep_biases", o->keep_biases);
    cJSON_AddNumberToObject(root, "bias_decay_steps", (double)o->bias_decay_steps);
    cJSON_AddBoolToObject(root, "plain_proj", o->plain_proj);
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could allocate");
    cJSON_Delete(root);
    return text;
}

static int options_from_json(bcos_student_options *o, const char *text, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(text);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "b");
    const cJSON *ramp = cJSON_GetObjectItemCaseSensitive(root, "b_ramp_steps");
    const cJSON *keep = cJSON_GetObjectItemCaseSensitive(root, "keep_biases");
    const cJSON *decay = cJSON_GetObjectItemCaseSensitive(root, "bias_decay_steps");
    const cJSON *plain = cJSON_GetObjectItemCaseSensitive(root, "plain_proj");
    int ok = cJSON_IsNumber(b) && b->valuedouble >= 1 && cJSON_IsNumber(ramp) && cJSON_IsBool(keep) &&
             cJSON_IsNumber(decay) && cJSON_IsBool(plain);
    if (ok)
        *o = (bcos_student_options){.b = (float)b->valuedouble, .b_ramp_steps = (int64_t)ramp->valuedouble,
                                    .keep_biases = cJSON_IsTrue(keep), .bias_decay_steps = (int64_t)decay->valuedouble,
                                    .plain_proj = cJSON_IsTrue(plain)};
    else
        snprintf(err, errlen, "metadata 'bcos_student' is not a valid B-cos options object");
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

/* The stored shape of tensor i: visual.proj goes back to open_clip's [width, embed]. */
static void stored_shape(const bcos_student *s, int i, int64_t shape[4]) {
    const bcos_param *t = &s->params.items[i];
    memcpy(shape, t->shape, 4 * sizeof *shape);
    if (i == s->proj) {
        shape[0] = t->shape[1];
        shape[1] = t->shape[0];
    }
}

static void transpose(float *out, const float *in, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[c * rows + r] = in[r * cols + c];
}

static int write_json(const char *path, const char *clip_json, const char *options_json, const char *model,
                      char *err, size_t errlen) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write the student config", path);
        return -1;
    }
    fprintf(f, "{\"model\": \"%s\", \"clip_config\": %s, \"bcos\": %s}\n", model, clip_json, options_json);
    return fclose(f) == 0 ? 0 : (snprintf(err, errlen, "%s: write failed", path), -1);
}

int bcos_student_save(const bcos_student *s, const bcos_clip *text_tower, const char *path, const char *json_path,
                      char *err, size_t errlen) {
    const bcos_params *p = &s->params;
    bcos_clip_export text = {0};
    if (text_tower) bcos_clip_export_openclip(&text, text_tower, 1);
    bcos_st_entry *entries = xcalloc((size_t)p->count + (size_t)text.count, sizeof *entries);
    int64_t (*shapes)[4] = xcalloc((size_t)p->count, sizeof *shapes);
    const bcos_param *proj = &p->items[s->proj];
    float *proj_t = xmalloc(proj->numel * sizeof(float));
    transpose(proj_t, bcos_params_ptr(p, s->proj), proj->shape[0], proj->shape[1]);
    for (int i = 0; i < p->count; i++) {
        stored_shape(s, i, shapes[i]);
        entries[i] = (bcos_st_entry){p->items[i].name, BCOS_F32, p->items[i].ndim, shapes[i],
                                     i == s->proj ? proj_t : bcos_params_ptr(p, i)};
    }
    for (int i = 0; i < text.count; i++) entries[p->count + i] = text.entries[i];
    char *clip_json = bcos_clip_config_to_json(&s->cfg), *options_json = options_to_json(&s->opt);
    bcos_st_meta meta[3] = {{"bcos_model", s->cfg.name}, {"bcos_clip_config", clip_json},
                            {"bcos_student", options_json}};
    int rc = bcos_st_write(path, entries, p->count + text.count, meta, 3, err, errlen);
    if (rc == 0 && json_path) rc = write_json(json_path, clip_json, options_json, s->cfg.name, err, errlen);
    free(options_json);
    free(clip_json);
    free(proj_t);
    free(shapes);
    free(entries);
    bcos_clip_export_free(&text);
    return rc;
}

static int load_tensors(bcos_student *s, const bcos_safetensors *st, char *err, size_t errlen) {
    char want[96], have[96];
    for (int i = 0; i < s->params.count; i++) {
        const bcos_param *t = &s->params.items[i];
        int64_t shape[4];
        stored_shape(s, i, shape);
        const bcos_st_tensor *f = bcos_st_find(st, t->name);
        if (!f) {
            snprintf(err, errlen, "tensor '%s' is missing (expected shape %s)", t->name,
                     bcos_shape_str(want, sizeof want, t->ndim, shape));
            return -1;
        }
        int same = f->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = f->shape[d] == shape[d];
        if (!same) {
            snprintf(err, errlen, "tensor '%s' has shape %s, expected %s", t->name,
                     bcos_shape_str(have, sizeof have, f->ndim, f->shape),
                     bcos_shape_str(want, sizeof want, t->ndim, shape));
            return -1;
        }
        float *dst = bcos_params_ptr(&s->params, i);
        if (bcos_st_to_f32(f, dst, err, errlen) != 0) return -1;
        if (i == s->proj) {
            float *tmp = xmalloc(t->numel * sizeof(float));
            transpose(tmp, dst, shape[0], shape[1]);
            memcpy(dst, tmp, t->numel * sizeof(float));
            free(tmp);
        }
    }
    int visual = 0;
    for (int i = 0; i < st->count; i++) visual += strncmp(st->tensors[i].name, "visual.", 7) == 0;
    if (visual != s->params.count) {
        snprintf(err, errlen, "%d visual.* tensors, but the student's config has %d", visual, s->params.count);
        return -1;
    }
    return 0;
}

/* The config and options a student file records. Returns 0 or -1 with why. */
static int read_header(const bcos_safetensors *st, bcos_clip_config *cfg, bcos_student_options *opt, char *why,
                       size_t whylen) {
    const char *name = bcos_st_meta_get(st, "bcos_model"), *clip_json = bcos_st_meta_get(st, "bcos_clip_config");
    const char *options_json = bcos_st_meta_get(st, "bcos_student");
    if (!name || !clip_json || !options_json) {
        snprintf(why, whylen, "not a B-cos student (no 'bcos_student' metadata; was it written by bcos distill?)");
        return -1;
    }
    if (bcos_clip_config_parse(cfg, name, clip_json, why, whylen) != 0) return -1;
    return options_from_json(opt, options_json, why, whylen);
}

int bcos_student_load_text(bcos_clip *text, const char *path, const bcos_backend *backend, char *err, size_t errlen) {
    bcos_safetensors st;
    if (bcos_st_open(&st, path, err, errlen) != 0) return -1;
    bcos_clip_config cfg;
    bcos_student_options opt;
    char why[BCOS_ERRLEN];
    int rc = read_header(&st, &cfg, &opt, why, sizeof why);
    if (rc == 0) {
        bcos_clip_init(text, &cfg, backend);
        rc = bcos_clip_load_text(text, &st, why, sizeof why);
        if (rc != 0) bcos_clip_free(text);
    }
    if (rc != 0) snprintf(err, errlen, "%s: %s (a student saved without its text tower cannot embed prompts)", path,
                          why);
    bcos_st_close(&st);
    return rc;
}

int bcos_student_load_file(bcos_student *s, const char *path, const bcos_backend *backend, char *err, size_t errlen) {
    bcos_safetensors st;
    if (bcos_st_open(&st, path, err, errlen) != 0) return -1;
    char why[BCOS_ERRLEN];
    bcos_clip_config cfg;
    bcos_student_options opt;
    int rc = read_header(&st, &cfg, &opt, why, sizeof why);
    if (rc == 0) {
        bcos_student_init(s, &cfg, &opt, backend);
        rc = load_tensors(s, &st, why, sizeof why);
        if (rc != 0) bcos_student_free(s);
    }
    if (rc != 0) snprintf(err, errlen, "%s: %s", path, why);
    bcos_st_close(&st);
    return rc;
}
