/* `bcos weights info FILE`: what a safetensors file holds and which CLIP configs it matches, or,
 * for a B-cos student, its config, its B-cos options and the step it was saved at. */
#include <stdio.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/clip.h"
#include "cli.h"

static const char *const USAGE = "usage: bcos weights info [--] FILE.safetensors\n"
                                 "Lists the tensors (name, dtype, shape), the metadata, the naming scheme and the\n"
                                 "built-in CLIP configs whose shapes the file matches; for a B-cos student, its\n"
                                 "config, B, options and the step it was saved at. Put -- before a FILE starting\n"
                                 "with '-'.\n";

static void print_config_matches(const bcos_safetensors *st) {
    char err[BCOS_ERRLEN];
    int matches = 0;
    const char *const *names = bcos_clip_config_builtin_names();
    for (int i = 0; names[i]; i++) {
        bcos_clip_config cfg;
        if (bcos_clip_config_load(&cfg, names[i], err, sizeof err) != 0) bcos_fail("%s", err);
        if (bcos_clip_file_matches(st, &cfg)) printf("matches config: %s\n", names[i]), matches++;
    }
    if (!matches) printf("matches config: none of the built-in configs\n");
}

/* The student as bcos loads it (which checks every tensor). */
static void print_student(const char *path, const bcos_safetensors *st) {
    bcos_student s;
    char err[BCOS_ERRLEN];
    if (bcos_student_load_file(&s, path, bcos_backend_get("auto"), err, sizeof err) != 0) bcos_fail("%s", err);
    const bcos_student_options *o = &s.opt;
    if (s.cfg.vision_tower == BCOS_TOWER_RESNET) {
        printf("B-cos ResNet student of config %s (image %d, width %d, layers %d %d %d %d)\n", s.cfg.name,
               s.cfg.image_size, s.cfg.vision_width, s.cfg.resnet_layers[0], s.cfg.resnet_layers[1],
               s.cfg.resnet_layers[2], s.cfg.resnet_layers[3]);
        printf("options: B %g, b_ramp_steps %lld, keep_biases %s, bias_decay_steps %lld, bcos_c_proj %s, keep_pos %s, "
               "per_rank_bn %s\n", o->b, (long long)o->b_ramp_steps, o->keep_biases ? "true" : "false",
               (long long)o->bias_decay_steps, o->bcos_c_proj ? "true" : "false", o->keep_pos ? "true" : "false",
               o->per_rank_bn ? "true" : "false");
    } else {
        printf("B-cos student of config %s (%s, image %d, patch %d, width %d, %d layers)\n", s.cfg.name,
               s.cfg.quick_gelu ? "QuickGELU" : "GELU", s.cfg.image_size, s.cfg.patch_size, s.cfg.vision_width,
               s.cfg.vision_layers);
        printf("options: B %g, b_ramp_steps %lld, keep_biases %s, bias_decay_steps %lld, plain_proj %s\n", o->b,
               (long long)o->b_ramp_steps, o->keep_biases ? "true" : "false", (long long)o->bias_decay_steps,
               o->plain_proj ? "true" : "false");
    }
    if (s.saved_step >= 0)
        printf("saved at step %lld: used with B %g and bias scale %g\n", (long long)s.saved_step, s.saved_b,
               s.saved_bias_scale);
    else
        printf("saved at an unrecorded step (a version 1 file): used with B %g and bias scale %g\n", s.saved_b,
               s.saved_bias_scale);
    printf("text tower: %s\n", bcos_st_find(st, "token_embedding.weight") ? "the teacher's (zeroshot, encode-text)"
                                                                          : "none (image embeddings only)");
    bcos_student_free(&s);
}

static int weights_info(const char *path) {
    bcos_safetensors st;
    char err[BCOS_ERRLEN], shape[96];
    if (bcos_st_open(&st, path, err, sizeof err) != 0) bcos_fail("%s", err);
    size_t total = 0;
    printf("%s: %d tensors\n", path, st.count);
    for (int i = 0; i < st.count; i++) {
        const bcos_st_tensor *t = &st.tensors[i];
        total += t->numel;
        printf("  %-64s %-5s %s\n", t->name, t->dtype_name, bcos_shape_str(shape, sizeof shape, t->ndim, t->shape));
    }
    for (int i = 0; i < st.meta_count; i++) printf("metadata %s = %s\n", st.meta[i].key, st.meta[i].value);
    printf("parameters: %zu\n", total);
    printf("naming: %s\n", bcos_naming_str(bcos_clip_detect_naming(&st)));
    if (bcos_st_meta_get(&st, "bcos_student"))
        print_student(path, &st);
    else
        print_config_matches(&st);
    bcos_st_close(&st);
    return 0;
}

/* bcos weights [--help] | weights info [--help] [--] FILE: help wherever it is asked for, before
 * any argument is taken for a file. */
int cmd_weights(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (cli_is_help(argv[i])) {
            fputs(USAGE, stdout);
            return 0;
        }
    int file = 2;
    if (file < argc && strcmp(argv[file], "--") == 0) file++;
    else if (file < argc && argv[file][0] == '-')
        bcos_fail("weights info: unknown option '%s' (put -- before a file name starting with '-')", argv[file]);
    if (argc < 2 || strcmp(argv[1], "info") != 0 || argc != file + 1) {
        fputs(USAGE, stderr);
        return 2;
    }
    return weights_info(argv[file]);
}
