/* `bcos weights info FILE`: what a safetensors file holds and which CLIP configs it matches. */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "cli.h"

static const char *const USAGE = "usage: bcos weights info FILE.safetensors\n"
                                 "Lists the tensors (name, dtype, shape), the metadata, the naming scheme and the\n"
                                 "built-in CLIP configs whose shapes the file matches.\n";

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
    int matches = 0;
    const char *const *names = bcos_clip_config_builtin_names();
    for (int i = 0; names[i]; i++) {
        bcos_clip_config cfg;
        if (bcos_clip_config_load(&cfg, names[i], err, sizeof err) != 0) bcos_fail("%s", err);
        if (bcos_clip_file_matches(&st, &cfg)) printf("matches config: %s\n", names[i]), matches++;
    }
    if (!matches) printf("matches config: none of the built-in configs\n");
    bcos_st_close(&st);
    return 0;
}

int cmd_weights(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "info") != 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    return weights_info(argv[2]);
}
