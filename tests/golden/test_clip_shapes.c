/* Golden test: our built-in ViT-B/32, ViT-B/16 and ViT-L/14 configs declare exactly the tensor
 * names and shapes of open_clip's state_dict and of transformers' CLIPModel (both dumped by
 * tools/ref/make_clip_fixtures.py into shapes.json), and our RN50, RN101, RN50x4, RN50x16 and RN50x64
 * those of open_clip's state_dict (tools/ref/make_rn_fixtures.py, rn_shapes.json; transformers has no
 * ResNet CLIP): nothing missing, nothing extra. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "test.h"

static int by_name(const void *a, const void *b) {
    return strcmp(((const bcos_st_tensor *)a)->name, ((const bcos_st_tensor *)b)->name);
}

/* A safetensors view holding only names and shapes, as the shape checks need no data. Sorted by
 * name, as bcos_st_open leaves a file's tensors (bcos_st_find bisects). */
static void view_from_json(bcos_safetensors *st, const cJSON *names) {
    memset(st, 0, sizeof *st);
    st->count = cJSON_GetArraySize(names);
    st->tensors = xcalloc((size_t)st->count, sizeof *st->tensors);
    int i = 0;
    for (const cJSON *it = names->child; it; it = it->next, i++) {
        bcos_st_tensor *t = &st->tensors[i];
        t->name = it->string;
        t->dtype = BCOS_F32;
        t->ndim = cJSON_GetArraySize(it);
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            t->shape[d] = (int64_t)cJSON_GetArrayItem(it, d)->valuedouble;
            t->numel *= (size_t)t->shape[d];
        }
    }
    qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, by_name);
}

static void check_config(const cJSON *root, const char *config, int n_namings) {
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(root, config);
    CHECK_MSG(entry != NULL, "shapes.json lacks %s", config);
    if (!entry) return;
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, config, err, sizeof err) == 0, err);
    const char *const namings[2] = {"open_clip", "hf"};
    for (int n = 0; n < n_namings; n++) {
        bcos_safetensors st;
        view_from_json(&st, cJSON_GetObjectItemCaseSensitive(entry, namings[n]));
        CHECK_MSG(st.count > 0, "%s %s has tensors", config, namings[n]);
        CHECK_MSG(bcos_clip_file_matches(&st, &cfg), "%s in %s naming matches our parameter table", config,
                  namings[n]);
        /* A near miss must not match: drop the last tensor (in name order). */
        st.count--;
        CHECK_MSG(!bcos_clip_file_matches(&st, &cfg), "%s %s without its last tensor is refused", config,
                  namings[n]);
        free(st.tensors);
    }
}

/* This process's address space in bytes (VmSize), from /proc. */
static size_t address_space(void) {
    FILE *f = fopen("/proc/self/status", "r");
    BCOS_CHECK(f != NULL, "/proc is mounted");
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

/* Matching a file's shapes against RN50x64 (2.5 GB of weights) allocates no weights: a child whose address
 * space may grow by 1 GB only (on top of what it holds, sanitizer shadow included) still gets its answer. */
static void check_matching_allocates_no_weights(const cJSON *root) {
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork works");
    if (pid == 0) {
        struct rlimit rl = {address_space() + ((size_t)1 << 30), RLIM_INFINITY};
        rl.rlim_max = rl.rlim_cur;
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
        bcos_clip_config cfg;
        char err[BCOS_ERRLEN];
        bcos_safetensors st;
        if (bcos_clip_config_load(&cfg, "RN50x64", err, sizeof err) != 0) _exit(4);
        view_from_json(&st, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "RN50x64"),
                                                             "open_clip"));
        _exit(bcos_clip_file_matches(&st, &cfg) ? 0 : 5);
    }
    int status = 0;
    BCOS_CHECK(waitpid(pid, &status, 0) == pid, "waitpid works");
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "RN50x64's shapes match within 1 GB more (status %d)",
              status);
}

int main(void) {
    char *text = bcos_read_file("tests/fixtures/clip/shapes.json", NULL);
    BCOS_CHECK(text != NULL, "regenerate with tools/ref/make_clip_fixtures.py");
    cJSON *root = cJSON_Parse(text);
    BCOS_CHECK(root != NULL, "shapes.json is JSON");
    check_config(root, "ViT-B-32", 2);
    check_config(root, "ViT-B-16", 2);
    check_config(root, "ViT-L-14", 2);
    cJSON_Delete(root);
    free(text);
    text = bcos_read_file("tests/fixtures/clip/rn_shapes.json", NULL);
    BCOS_CHECK(text != NULL, "regenerate with tools/ref/make_rn_fixtures.py");
    root = cJSON_Parse(text);
    BCOS_CHECK(root != NULL, "rn_shapes.json is JSON");
    const char *const resnets[] = {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"};
    for (int i = 0; i < 5; i++) check_config(root, resnets[i], 1);
    check_matching_allocates_no_weights(root);
    cJSON_Delete(root);
    free(text);
    return test_summary("test_clip_shapes");
}
