/* Saving and loading the B-cos student: safetensors in open_clip's visual.* naming, with the CLIP
 * config, the B-cos options and the step the weights are at (with its B and bias scale, which the
 * weights are used with) in the metadata, and the config and options in a small JSON file beside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/log.h"
#include "clip_internal.h"

#define VERSION_KEY "bcos_student_version"
#define STEP_KEY "bcos_student_step"

/* The object as compact JSON text (heap), the object freed. */
static char *json_text(cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could allocate");
    cJSON_Delete(root);
    return text;
}

static char *options_to_json(const bcos_student_options *o) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "b", o->b);
    cJSON_AddNumberToObject(root, "b_ramp_steps", (double)o->b_ramp_steps);
    cJSON_AddBoolToObject(root, "keep_biases", o->keep_biases);
    cJSON_AddNumberToObject(root, "bias_decay_steps", (double)o->bias_decay_steps);
    cJSON_AddBoolToObject(root, "plain_proj", o->plain_proj);
    cJSON_AddBoolToObject(root, "bcos_c_proj", o->bcos_c_proj);
    cJSON_AddBoolToObject(root, "keep_pos", o->keep_pos);
    cJSON_AddBoolToObject(root, "per_rank_bn", o->per_rank_bn);
    return json_text(root);
}

static int options_from_json(bcos_student_options *o, const char *text, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(text);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "b");
    const cJSON *ramp = cJSON_GetObjectItemCaseSensitive(root, "b_ramp_steps");
    const cJSON *keep = cJSON_GetObjectItemCaseSensitive(root, "keep_biases");
    const cJSON *decay = cJSON_GetObjectItemCaseSensitive(root, "bias_decay_steps");
    const cJSON *plain = cJSON_GetObjectItemCaseSensitive(root, "plain_proj");
    /* the ResNet options (version 3), false when absent (versions 1 and 2 had ViT students only) */
    const cJSON *resnet[] = {cJSON_GetObjectItemCaseSensitive(root, "bcos_c_proj"),
                             cJSON_GetObjectItemCaseSensitive(root, "keep_pos"),
                             cJSON_GetObjectItemCaseSensitive(root, "per_rank_bn")};
    int ok = cJSON_IsNumber(b) && b->valuedouble >= 1 && cJSON_IsNumber(ramp) && cJSON_IsBool(keep) &&
             cJSON_IsNumber(decay) && cJSON_IsBool(plain);
    for (int i = 0; i < 3; i++) ok = ok && (!resnet[i] || cJSON_IsBool(resnet[i]));
    if (ok)
        *o = (bcos_student_options){.b = (float)b->valuedouble, .b_ramp_steps = (int64_t)ramp->valuedouble,
                                    .keep_biases = cJSON_IsTrue(keep), .bias_decay_steps = (int64_t)decay->valuedouble,
                                    .plain_proj = cJSON_IsTrue(plain), .bcos_c_proj = cJSON_IsTrue(resnet[0]),
                                    .keep_pos = cJSON_IsTrue(resnet[1]), .per_rank_bn = cJSON_IsTrue(resnet[2])};
    else
        snprintf(err, errlen, "metadata 'bcos_student' is not a valid B-cos options object");
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

/* {"step": N, "b": B, "bias_scale": S}: where the schedule was when the weights were saved. */
static char *step_to_json(const bcos_student *s, int64_t step) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "step", (double)step);
    cJSON_AddNumberToObject(root, "b", bcos_student_b_at(s, step));
    cJSON_AddNumberToObject(root, "bias_scale", bcos_student_bias_scale_at(s, step));
    return json_text(root);
}

/* saved_b and saved_bias_scale from step_to_json's text. */
static int step_from_json(bcos_student *s, const char *text, char *err, size_t errlen) {
    cJSON *root = cJSON_Parse(text);
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "step");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "b");
    const cJSON *scale = cJSON_GetObjectItemCaseSensitive(root, "bias_scale");
    int ok = cJSON_IsNumber(step) && step->valuedouble >= 0 && cJSON_IsNumber(b) && isfinite(b->valuedouble) &&
             b->valuedouble >= 1 && cJSON_IsNumber(scale) && scale->valuedouble >= 0 && scale->valuedouble <= 1;
    if (ok) {
        s->saved_step = (int64_t)step->valuedouble;
        s->saved_b = (float)b->valuedouble;
        s->saved_bias_scale = (float)scale->valuedouble;
    } else {
        snprintf(err, errlen, "metadata '" STEP_KEY "' is not {\"step\": N >= 0, \"b\": B >= 1, \"bias_scale\": "
                              "0..1}");
    }
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

static int write_json(const char *path, const char *clip_json, const char *options_json, const char *model,
                      char *err, size_t errlen) {
    char *text = bcos_strfmt("{\"model\": \"%s\", \"clip_config\": %s, \"bcos\": %s}\n", model, clip_json, options_json);
    int rc = bcos_write_file_atomic(path, text, strlen(text), err, errlen);
    free(text);
    return rc;
}

void bcos_student_file_make(bcos_student_file *f, const bcos_student *s, const bcos_clip *text_tower, int64_t step) {
    memset(f, 0, sizeof *f);
    bcos_student_tensors_make(&f->visual, s, s->params.data, "");
    if (text_tower) bcos_clip_export_openclip(&f->text, text_tower, 1);
    const bcos_params *buf = &s->buffers;
    f->count = f->visual.count + buf->count + f->text.count;
    f->entries = xcalloc((size_t)f->count, sizeof *f->entries);
    memcpy(f->entries, f->visual.entries, (size_t)f->visual.count * sizeof *f->entries);
    for (int i = 0; i < buf->count; i++)
        f->entries[f->visual.count + i] = (bcos_st_entry){buf->items[i].name, BCOS_F32, buf->items[i].ndim,
                                                          buf->items[i].shape, bcos_params_ptr(buf, i)};
    if (f->text.count)
        memcpy(f->entries + f->visual.count + buf->count, f->text.entries, (size_t)f->text.count * sizeof *f->entries);
    f->clip_json = bcos_clip_config_to_json(&s->cfg);
    f->options_json = options_to_json(&s->opt);
    f->meta[0] = (bcos_st_meta){"bcos_model", s->cfg.name};
    f->meta[1] = (bcos_st_meta){"bcos_clip_config", f->clip_json};
    f->meta[2] = (bcos_st_meta){"bcos_student", f->options_json};
    f->step_json = step_to_json(s, step);
    f->meta[3] = (bcos_st_meta){VERSION_KEY, BCOS_STUDENT_VERSION};
    f->meta[4] = (bcos_st_meta){STEP_KEY, f->step_json};
    f->n_meta = 5;
}

void bcos_student_file_free(bcos_student_file *f) {
    free(f->step_json);
    free(f->options_json);
    free(f->clip_json);
    free(f->entries);
    bcos_clip_export_free(&f->text);
    bcos_student_tensors_free(&f->visual);
    memset(f, 0, sizeof *f);
}

int bcos_student_save(const bcos_student *s, const bcos_clip *text_tower, int64_t step, const char *path,
                      const char *json_path, char *err, size_t errlen) {
    char why[BCOS_ERRLEN];
    if (bcos_params_check_finite(&s->params, why, sizeof why) != 0)
        return bcos_error(err, errlen, path, "not saved: the student's %s", why);
    bcos_student_file f;
    bcos_student_file_make(&f, s, text_tower, step);
    int rc = bcos_st_write(path, f.entries, f.count, f.meta, f.n_meta, err, errlen);
    if (rc == 0 && json_path) rc = write_json(json_path, f.clip_json, f.options_json, s->cfg.name, err, errlen);
    bcos_student_file_free(&f);
    return rc;
}

/* The student's tensors and buffers, and no other visual.* tensor. */
static int load_tensors(bcos_student *s, const bcos_safetensors *st, char *err, size_t errlen) {
    if (bcos_student_tensors_read(s, st, "", s->params.data, err, errlen) != 0 ||
        bcos_student_buffers_read(s, st, err, errlen) != 0)
        return -1;
    int visual = 0;
    for (int i = 0; i < st->count; i++) visual += strncmp(st->tensors[i].name, "visual.", 7) == 0;
    if (visual != s->params.count + s->buffers.count) {
        snprintf(err, errlen, "%d visual.* tensors, but the student's config has %d", visual,
                 s->params.count + s->buffers.count);
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

/* saved_b and saved_bias_scale from the file. A version 1 file does not record them: it keeps the
 * schedule's end values that bcos_student_init set, right for a finished schedule, and says so
 * when its schedule may have been unfinished. */
static int read_step(bcos_student *s, const bcos_safetensors *st, const char *path, char *why, size_t whylen) {
    const char *version = bcos_st_meta_get(st, VERSION_KEY), *step = bcos_st_meta_get(st, STEP_KEY);
    if (!version) {
        if (s->opt.b_ramp_steps > 0 || s->opt.bias_decay_steps > 0)
            bcos_warn("%s: a student file of version 1 records no step: used with the end of its B ramp or bias "
                      "decay (B %.3g, bias scale %.3g)", path, s->saved_b, s->saved_bias_scale);
        return 0;
    }
    if (strcmp(version, "2") != 0 && strcmp(version, BCOS_STUDENT_VERSION) != 0) {
        snprintf(why, whylen, "student file version '%s' is not one this bcos reads (1 to %s)", version,
                 BCOS_STUDENT_VERSION);
        return -1;
    }
    if (!step) {
        snprintf(why, whylen, "metadata '" STEP_KEY "' is missing");
        return -1;
    }
    return step_from_json(s, step, why, whylen);
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
    if (rc != 0)
        snprintf(err, errlen, "%s: %s%s", path, why,
                 bcos_st_find(&st, "token_embedding.weight") ? ""
                                                             : " (a student saved without its text tower cannot embed prompts)");
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
        rc = read_step(s, &st, path, why, sizeof why);
        if (rc == 0) rc = load_tensors(s, &st, why, sizeof why);
        if (rc != 0) bcos_student_free(s);
    }
    if (rc != 0) snprintf(err, errlen, "%s: %s", path, why);
    bcos_st_close(&st);
    return rc;
}
