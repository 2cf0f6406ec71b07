/* Core pieces: the RNG (reproducible, independent streams, distributions), the single-allocation
 * parameter table, whole-file reads and parent-directory creation, the one-line error formatter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bcos/check.h"
#include "bcos/params.h"
#include "bcos/paths.h"
#include "bcos/rng.h"
#include "test.h"

static void check_rng(void) {
    bcos_rng a, b, c;
    bcos_rng_seed(&a, 42);
    bcos_rng_seed(&b, 42);
    bcos_rng_seed_stream(&c, 42, 1);
    int same = 1, differs = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = bcos_rng_u64(&a), y = bcos_rng_u64(&b), z = bcos_rng_u64(&c);
        same &= x == y;
        differs += x != z;
    }
    CHECK_MSG(same, "the same seed gives the same stream");
    CHECK_MSG(differs > 990, "another stream differs (%d of 1000)", differs);
    /* the state alone continues the stream: copy it mid-way */
    bcos_rng saved = a;
    uint64_t next = bcos_rng_u64(&a);
    CHECK(bcos_rng_u64(&saved) == next);

    enum { N = 200000, BINS = 10 };
    double sum = 0, sum_sq = 0, usum = 0, umin = 1, umax = 0;
    long counts[BINS] = {0};
    for (int i = 0; i < N; i++) {
        double g = bcos_rng_normal(&a), u = bcos_rng_uniform(&a);
        sum += g;
        sum_sq += g * g;
        usum += u;
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        counts[bcos_rng_below(&a, BINS)]++;
    }
    double mean = sum / N, var = sum_sq / N - mean * mean;
    CHECK_MSG(fabs(mean) < 0.01 && fabs(var - 1) < 0.02, "normal: mean %.4f var %.4f", mean, var);
    CHECK_MSG(fabs(usum / N - 0.5) < 0.005 && umin >= 0 && umax < 1, "uniform in [0,1): mean %.4f", usum / N);
    double chi2 = 0;
    for (int k = 0; k < BINS; k++) chi2 += (counts[k] - N / 10.0) * (counts[k] - N / 10.0) / (N / 10.0);
    CHECK_MSG(chi2 < 27.9, "below(10) is uniform: chi2 %.2f (9 dof, p = 0.001 at 27.9)", chi2);
    CHECK(bcos_rng_below(&a, 1) == 0);
}

static void check_params(void) {
    bcos_params p;
    bcos_params_init(&p);
    int w = bcos_params_declare(&p, "w", 2, (int64_t[]){3, 4});
    int b = bcos_params_declare(&p, "b", 1, (int64_t[]){4});
    int s = bcos_params_declare(&p, "scale", 0, NULL);
    bcos_params_alloc(&p);
    CHECK(p.total == 12 + 4 + 1);
    CHECK(bcos_params_ptr(&p, w) == p.data && bcos_params_ptr(&p, b) == p.data + 12 && bcos_params_ptr(&p, s) == p.data + 16);
    CHECK(bcos_params_find(&p, "b") == b && bcos_params_find(&p, "missing") == -1);
    int zero = 1;
    for (size_t i = 0; i < p.total; i++) zero &= p.data[i] == 0.0f;
    CHECK_MSG(zero, "parameters start at zero");
    char buf[64];
    CHECK(strcmp(bcos_shape_str(buf, sizeof buf, 2, p.items[w].shape), "[3, 4]") == 0);
    CHECK(strcmp(bcos_shape_str(buf, sizeof buf, 0, p.items[s].shape), "[]") == 0);
    bcos_params_free(&p);
}

static void check_files(void) {
    char dir[] = "/tmp/bcos_core_XXXXXX", path[256], err[BCOS_ERRLEN];
    BCOS_CHECK(mkdtemp(dir) != NULL, "/tmp is writable");
    snprintf(path, sizeof path, "%s/a/b/c/file.txt", dir);
    CHECK(bcos_make_parent_dirs(path, err, sizeof err) == 0);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("hello\nworld", f);
        fclose(f);
    }
    size_t n;
    char *text = bcos_read_file(path, &n);
    CHECK(text && n == 11 && strcmp(text, "hello\nworld") == 0);
    free(text);
    CHECK(bcos_read_file("/nonexistent/file", NULL) == NULL);
    snprintf(path, sizeof path, "%s/a/b/c/file.txt/inside", dir);
    CHECK(bcos_make_parent_dirs(path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "file.txt") != NULL, "error '%s' names the blocking path", err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* bcos_error and bcos_report write the same "culprit: message" line, cut to the buffer, and return -1. */
static void check_errors(void) {
    char a[BCOS_ERRLEN], b[BCOS_ERRLEN], small[12];
    CHECK(bcos_error(a, sizeof a, "w.safetensors", "tensor '%s' is %d bytes short", "x", 4) == -1);
    CHECK_MSG(strcmp(a, "w.safetensors: tensor 'x' is 4 bytes short") == 0, "bcos_error wrote '%s'", a);
    bcos_reporter r = {"w.safetensors", b, sizeof b};
    CHECK(bcos_report(&r, "tensor '%s' is %d bytes short", "x", 4) == -1);
    CHECK_MSG(strcmp(a, b) == 0, "bcos_report wrote '%s'", b);
    bcos_reporter cut = {"w.safetensors", small, sizeof small};
    CHECK(bcos_report(&cut, "long message") == -1);
    CHECK_MSG(strcmp(small, "w.safetenso") == 0, "a short buffer holds '%s'", small);
    bcos_reporter none = {"x", NULL, 0};
    CHECK(bcos_report(&none, "nowhere") == -1);
}

int main(void) {
    check_errors();
    check_rng();
    check_params();
    check_files();
    return test_summary("test_core");
}
