/* safetensors against the Python package (fixtures from tools/ref/make_safetensors_fixtures.py):
 * reads a file safetensors.torch wrote and compares every element with torch's float32 decoding
 * bit for bit; checks float16/bfloat16 conversions against torch on all 65536 patterns and on
 * float32 values around every rounding boundary; and writes the fixture's tensors back out to
 * /tmp/bcos_c_written.safetensors with the layout safetensors.torch.save would choose (the script's
 * --verify mode then checks that file with Python). */
#include "bcos/safetensors.h"

#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>

#define FIXTURES "tests/fixtures/safetensors/"
#define C_WRITTEN "/tmp/bcos_c_written.safetensors"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    cJSON *json = cJSON_Parse(text);
    free(text);
    return json;
}

static int open_fixture(bcos_safetensors *st, const char *path) {
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_st_open(st, path, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    return rc;
}

/* A F32/F16/BF16 tensor as float32 in a new buffer (NULL on failure, counted as one). */
static float *tensor_f32(const bcos_st_tensor *t) {
    float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_st_to_f32(t, out, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) free(out), out = NULL;
    return out;
}

static void check_tensor(const bcos_safetensors *st, const cJSON *expected) {
    const char *name = expected->string;
    const bcos_st_tensor *t = bcos_st_find(st, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return;
    const char *dtype = cJSON_GetObjectItem(expected, "dtype")->valuestring;
    CHECK_MSG(strcmp(t->dtype_name, dtype) == 0, "%s: dtype %s, expected %s", name, t->dtype_name, dtype);
    const cJSON *shape = cJSON_GetObjectItem(expected, "shape");
    CHECK(t->ndim == cJSON_GetArraySize(shape));
    int d = 0;
    for (const cJSON *dim = shape->child; dim && d < t->ndim; dim = dim->next, d++)
        CHECK_MSG(t->shape[d] == (int64_t)dim->valuedouble, "%s: dimension %d", name, d);
    const cJSON *bits = cJSON_GetObjectItem(expected, "f32_bits");
    if (!bits) {
        char err[BCOS_ERRLEN];
        float scratch[8];
        CHECK_MSG(bcos_st_to_f32(t, scratch, err, sizeof err) == -1, "%s (%s) converted", name, dtype);
        return;
    }
    CHECK((size_t)cJSON_GetArraySize(bits) == t->numel);
    float *values = tensor_f32(t);
    if (!values) return;
    size_t i = 0;
    for (const cJSON *b = bits->child; b && i < t->numel; b = b->next, i++)
        CHECK_MSG(f32_bits(values[i]) == (uint32_t)b->valuedouble, "%s[%zu]: 0x%08x, torch 0x%08x", name, i,
                  f32_bits(values[i]), (uint32_t)b->valuedouble);
    free(values);
}

static void test_python_written(const cJSON *expected) {
    bcos_safetensors st;
    if (open_fixture(&st, FIXTURES "py_written.safetensors")) return;
    const cJSON *tensors = cJSON_GetObjectItem(expected, "tensors");
    CHECK(st.count == cJSON_GetArraySize(tensors));
    for (const cJSON *t = tensors->child; t; t = t->next) check_tensor(&st, t);
    const cJSON *meta = cJSON_GetObjectItem(expected, "metadata");
    CHECK(st.meta_count == cJSON_GetArraySize(meta));
    for (const cJSON *m = meta->child; m; m = m->next) {
        const char *value = bcos_st_meta_get(&st, m->string);
        CHECK_MSG(value && strcmp(value, m->valuestring) == 0, "metadata %s", m->string);
    }
    bcos_st_close(&st);
}

/* All 65536 patterns of a 16-bit dtype, decoded by us and by torch (stored as F32). */
static void check_all_patterns(const bcos_safetensors *st, const char *name, const char *torch_name) {
    const bcos_st_tensor *all = bcos_st_find(st, name), *torch = bcos_st_find(st, torch_name);
    CHECK(all && torch && all->numel == 65536 && torch->numel == 65536);
    if (!all || !torch) return;
    float *ours = tensor_f32(all), *theirs = tensor_f32(torch);
    int mismatches = 0;
    for (size_t i = 0; ours && theirs && i < 65536; i++) mismatches += f32_bits(ours[i]) != f32_bits(theirs[i]);
    CHECK_MSG(mismatches == 0, "%s: %d of 65536 patterns decode differently from torch", name, mismatches);
    free(ours);
    free(theirs);
}

static int is_nan16(uint16_t h, int exponent_mask) { return (h & exponent_mask) == exponent_mask && (h & ~(exponent_mask | 0x8000)); }

/* float32 probe values rounded by us and by torch. NaN payloads differ between torch's code
 * paths, so NaNs only need to stay NaNs. */
static void check_rounding(const bcos_safetensors *st, const char *torch_name, uint16_t (*round)(float),
                           int exponent_mask) {
    const bcos_st_tensor *probe = bcos_st_find(st, "f32_probe"), *torch = bcos_st_find(st, torch_name);
    CHECK(probe && torch && probe->numel == torch->numel);
    if (!probe || !torch) return;
    float *inputs = tensor_f32(probe);
    if (!inputs) return;
    int mismatches = 0;
    for (size_t i = 0; i < probe->numel; i++) {
        uint16_t expected = (uint16_t)(torch->data[2 * i] | torch->data[2 * i + 1] << 8), got = round(inputs[i]);
        int same = isnan(inputs[i]) ? is_nan16(got, exponent_mask) && is_nan16(expected, exponent_mask) : got == expected;
        if (!same && mismatches++ < 5)
            fprintf(stderr, "%s: 0x%08x -> 0x%04x, torch 0x%04x\n", torch_name, f32_bits(inputs[i]), got, expected);
    }
    CHECK_MSG(mismatches == 0, "%s: %d of %zu values round differently from torch", torch_name, mismatches,
              probe->numel);
    free(inputs);
}

static void test_conversions(void) {
    bcos_safetensors st;
    if (open_fixture(&st, FIXTURES "conversions.safetensors")) return;
    check_all_patterns(&st, "f16_all", "f16_all_as_f32");
    check_all_patterns(&st, "bf16_all", "bf16_all_as_f32");
    check_rounding(&st, "f32_probe_as_f16", bcos_f32_to_f16, 0x7C00);
    check_rounding(&st, "f32_probe_as_bf16", bcos_f32_to_bf16, 0x7F80);
    bcos_st_close(&st);
}

/* The raw header of a file we wrote, parsed. */
static cJSON *raw_header(const bcos_safetensors *st, size_t *header_len) {
    const uint8_t *base = st->map;
    uint64_t n = 0;
    for (int b = 7; b >= 0; b--) n = n << 8 | base[b];
    *header_len = (size_t)n;
    return cJSON_ParseWithLength((const char *)base + 8, (size_t)n);
}

/* Our file must list and lay out the tensors exactly as safetensors.torch.save does. */
static void check_layout(const bcos_safetensors *written, const cJSON *layout) {
    size_t header_len;
    cJSON *header = raw_header(written, &header_len);
    CHECK(header != NULL);
    if (!header) return;
    CHECK_MSG(header_len == (size_t)cJSON_GetObjectItem(layout, "header_bytes")->valuedouble,
              "header is %zu bytes, safetensors writes %g", header_len,
              cJSON_GetObjectItem(layout, "header_bytes")->valuedouble);
    CHECK(strcmp(header->child->string, "__metadata__") == 0);
    const cJSON *ours = header->child->next;
    const cJSON *offsets = cJSON_GetObjectItem(layout, "data_offsets");
    for (const cJSON *name = cJSON_GetObjectItem(layout, "order")->child; name; name = name->next, ours = ours->next) {
        CHECK_MSG(ours && strcmp(ours->string, name->valuestring) == 0, "header lists %s where safetensors lists %s",
                  ours ? ours->string : "nothing", name->valuestring);
        if (!ours) break;
        const cJSON *want = cJSON_GetObjectItem(offsets, name->valuestring);
        const cJSON *got = cJSON_GetObjectItem(ours, "data_offsets");
        CHECK_MSG(got->child->valuedouble == want->child->valuedouble &&
                      got->child->next->valuedouble == want->child->next->valuedouble,
                  "%s: offsets differ from safetensors", name->valuestring);
    }
    cJSON_Delete(header);
}

static void test_c_written(const cJSON *expected) {
    bcos_safetensors py;
    if (open_fixture(&py, FIXTURES "py_written.safetensors")) return;
    bcos_st_entry *entries = calloc((size_t)py.count, sizeof *entries);
    float **values = calloc((size_t)py.count, sizeof *values);
    int n = 0;
    for (int i = 0; i < py.count; i++) {
        const bcos_st_tensor *t = &py.tensors[i];
        if (t->dtype != BCOS_F32 && t->dtype != BCOS_F16 && t->dtype != BCOS_BF16) continue;
        values[n] = tensor_f32(t);
        entries[n] = (bcos_st_entry){t->name, t->dtype, t->ndim, t->shape, values[n]};
        n++;
    }
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_st_write(C_WRITTEN, entries, n, py.meta, py.meta_count, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    bcos_safetensors ours;
    if (rc == 0 && open_fixture(&ours, C_WRITTEN) == 0) {
        /* Every stored byte is the one Python stored: F16/BF16 survive float32 and back. */
        CHECK(ours.count == n);
        for (int i = 0; i < n; i++) {
            const bcos_st_tensor *a = bcos_st_find(&py, entries[i].name), *b = bcos_st_find(&ours, entries[i].name);
            CHECK_MSG(b && b->nbytes == a->nbytes && memcmp(a->data, b->data, a->nbytes) == 0, "%s differs",
                      entries[i].name);
        }
        CHECK(ours.meta_count == py.meta_count + 1);
        check_layout(&ours, cJSON_GetObjectItem(expected, "c_layout"));
        bcos_st_close(&ours);
        printf("wrote %s; check it with Python: tools/ref/make_safetensors_fixtures.py --verify %s\n", C_WRITTEN,
               C_WRITTEN);
    }
    for (int i = 0; i < n; i++) free(values[i]);
    free(values);
    free(entries);
    bcos_st_close(&py);
}

int main(void) {
    cJSON *expected = load_json(FIXTURES "py_expected.json");
    CHECK_MSG(expected != NULL, "cannot read " FIXTURES "py_expected.json");
    if (expected) {
        test_python_written(expected);
        test_c_written(expected);
        cJSON_Delete(expected);
    }
    test_conversions();
    return test_summary("test_safetensors_python");
}
