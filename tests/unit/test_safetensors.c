/* safetensors reader and writer: float16/bfloat16 conversions against IEEE bit patterns, write/read
 * round trips, every rejection the reader makes (one hand-built bad file each, in a temporary
 * folder), truncated and extended files, and the writer's own refusals. */
#include "bcos/safetensors.h"

#include "support/temp_tree.h"
#include "test.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[] = "/tmp/bcos_test_st_XXXXXX";

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static char *temp_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return path;
}

static void write_bytes(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(bytes, 1, len, f) == len);
    fclose(f);
}

/* A file: 8-byte little-endian length of header, header, then data_len bytes of 0xAB. */
static void write_st_file(const char *path, const char *header, size_t data_len) {
    size_t n = strlen(header);
    uint8_t *buf = malloc(8 + n + data_len + 1);
    for (int b = 0; b < 8; b++) buf[b] = (uint8_t)((uint64_t)n >> (8 * b));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, 0xAB, data_len);
    write_bytes(path, buf, 8 + n + data_len);
    free(buf);
}

/* bcos_st_open must refuse the file with a message naming it, the tensor (when given) and the
 * problem, and leave the struct empty. */
static void expect_rejected_file(const char *path, const char *tensor, const char *problem) {
    bcos_safetensors st;
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_st_open(&st, path, err, sizeof err);
    CHECK_MSG(rc == -1, "%s was accepted", path);
    CHECK_MSG(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':', "message '%s' does not start with the path", err);
    CHECK_MSG(strstr(err, problem) != NULL, "message '%s' does not say '%s'", err, problem);
    CHECK_MSG(strchr(err, '\n') == NULL, "message '%s' spans lines", err);
    if (tensor) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "tensor '%s'", tensor);
        CHECK_MSG(strstr(err, quoted) != NULL, "message '%s' does not name %s", err, quoted);
    }
    CHECK(st.count == 0 && st.tensors == NULL && st.map == NULL && st.strings == NULL);
    if (rc == 0) bcos_st_close(&st);
}

static void expect_rejected(const char *file, const char *header, size_t data_len, const char *tensor,
                            const char *problem) {
    const char *path = temp_path(file);
    write_st_file(path, header, data_len);
    expect_rejected_file(path, tensor, problem);
}

static void test_f16_ieee_patterns(void) {
    /* IEEE 754 binary16 encodings of exactly representable values. */
    const struct {
        float value;
        uint16_t bits;
    } exact[] = {
        {1.0f, 0x3C00},        {-2.0f, 0xC000},          {0.5f, 0x3800},        {65504.0f, 0x7BFF},
        {-65504.0f, 0xFBFF},   {0.0f, 0x0000},           {-0.0f, 0x8000},       {0x1p-24f, 0x0001},
        {0x1p-14f, 0x0400},    {0x3FFp-24f, 0x03FF},     {0.333251953125f, 0x3555}, {1.0009765625f, 0x3C01},
        {-0x1p-24f, 0x8001},   {2048.0f, 0x6800},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        CHECK_MSG(bcos_f32_to_f16(exact[i].value) == exact[i].bits, "%a -> 0x%04x, expected 0x%04x",
                  (double)exact[i].value, bcos_f32_to_f16(exact[i].value), exact[i].bits);
        CHECK_MSG(f32_bits(bcos_f16_to_f32(exact[i].bits)) == f32_bits(exact[i].value), "0x%04x -> %a",
                  exact[i].bits, (double)bcos_f16_to_f32(exact[i].bits));
    }
    /* Rounding to nearest, ties to the even mantissa. */
    const struct {
        float value;
        uint16_t bits;
    } rounded[] = {
        {1.0f / 3.0f, 0x3555},   /* 0.33333334 -> 0.333251953125 */
        {1.00048828125f, 0x3C00}, /* 1 + 2^-11: tie between 0x3C00 (even) and 0x3C01 */
        {1.00146484375f, 0x3C02}, /* 1 + 3*2^-11: tie between 0x3C01 and 0x3C02 (even) */
        {2049.0f, 0x6800},        /* tie between 2048 (even) and 2050 */
        {2051.0f, 0x6802},        /* tie between 2050 and 2052 (even) */
        {65519.0f, 0x7BFF},       /* below the tie at 65520 */
        {65520.0f, 0x7C00},       /* tie between 65504 (odd) and 65536: infinity */
        {1e10f, 0x7C00},          {-1e10f, 0xFC00},
        {0x1p-25f, 0x0000},       /* half the smallest subnormal: tie to even zero */
        {0x1.000002p-25f, 0x0001}, /* just above that tie */
        {0x3p-25f, 0x0002},       /* 1.5 steps: tie to even 2 */
        {0x1.ffcp-15f, 0x0400},   /* largest subnormal + half a step: rounds into the normals */
        {1e-8f, 0x0000},          {-1e-8f, 0x8000},
        {0x1p-149f, 0x0000},      /* float32 subnormals vanish */
    };
    for (size_t i = 0; i < sizeof rounded / sizeof rounded[0]; i++)
        CHECK_MSG(bcos_f32_to_f16(rounded[i].value) == rounded[i].bits, "%a -> 0x%04x, expected 0x%04x",
                  (double)rounded[i].value, bcos_f32_to_f16(rounded[i].value), rounded[i].bits);
    CHECK(bcos_f32_to_f16(INFINITY) == 0x7C00 && bcos_f32_to_f16(-INFINITY) == 0xFC00);
    uint16_t nan16 = bcos_f32_to_f16(NAN);
    CHECK((nan16 & 0x7C00) == 0x7C00 && (nan16 & 0x3FF) != 0);
    CHECK(isnan(bcos_f16_to_f32(0x7E00)) && isnan(bcos_f16_to_f32(0xFC01)));
    CHECK(bcos_f16_to_f32(0x7C00) == INFINITY && bcos_f16_to_f32(0xFC00) == -INFINITY);
}

static void test_bf16_ieee_patterns(void) {
    const struct {
        uint32_t f32;
        uint16_t bf16;
    } cases[] = {
        {0x3F800000, 0x3F80}, /* 1.0 */
        {0xC0000000, 0xC000}, /* -2.0 */
        {0x80000000, 0x8000}, /* -0.0 */
        {0x40490FDB, 0x4049}, /* pi: the dropped half is below a tie */
        {0x3F808000, 0x3F80}, /* tie, kept mantissa even: down */
        {0x3F818000, 0x3F82}, /* tie, kept mantissa odd: up */
        {0x3F808001, 0x3F81}, /* just above a tie: up */
        {0x7F7FFFFF, 0x7F80}, /* float32 max rounds past bfloat16 max: infinity */
        {0x7F7F7FFF, 0x7F7F}, /* stays bfloat16 max */
        {0x00000001, 0x0000}, /* smallest float32 subnormal */
        {0x00018000, 0x0002}, /* subnormal tie, odd: up */
        {0xFF800000, 0xFF80}, /* -inf */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = bcos_f32_to_bf16(f32_from_bits(cases[i].f32));
        CHECK_MSG(got == cases[i].bf16, "0x%08x -> 0x%04x, expected 0x%04x", cases[i].f32, got, cases[i].bf16);
    }
    CHECK(f32_bits(bcos_bf16_to_f32(0x4049)) == 0x40490000u);
    CHECK(f32_bits(bcos_bf16_to_f32(0x0001)) == 0x00010000u);
    uint16_t nan = bcos_f32_to_bf16(f32_from_bits(0x7F800001)); /* signalling NaN with a low payload */
    CHECK((nan & 0x7F80) == 0x7F80 && (nan & 0x7F) != 0);
    CHECK(isnan(bcos_bf16_to_f32(0xFFC1)));
}

/* Values exact in every dtype, so the round trip must give them back bit for bit. */
static void fill_exact(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)((int)(i % 17) - 8) / 8.0f;
}

static void test_round_trip(void) {
    float a[6], b[24], c[5], scalar = -0.0f;
    fill_exact(a, 6, 1.0f);
    fill_exact(b, 24, 0.25f);
    fill_exact(c, 5, 64.0f);
    const int64_t shape_a[] = {2, 3}, shape_b[] = {2, 3, 4}, shape_c[] = {5}, shape_empty[] = {0, 7};
    const bcos_st_entry entries[] = {
        {"z.f32", BCOS_F32, 2, shape_a, a},     {"b.f16", BCOS_F16, 3, shape_b, b},
        {"a.bf16", BCOS_BF16, 1, shape_c, c},   {"scalar", BCOS_F32, 0, NULL, &scalar},
        {"empty", BCOS_F16, 2, shape_empty, NULL},
    };
    const bcos_st_meta meta[] = {{"zeta", "last"}, {"alpha", "first"}, {"blank", ""}};
    char err[BCOS_ERRLEN] = "";
    const char *path = temp_path("round_trip.safetensors");
    int rc = bcos_st_write(path, entries, 5, meta, 3, err, sizeof err);
    CHECK_MSG(rc == 0, "write failed: %s", err);

    bcos_safetensors st;
    rc = bcos_st_open(&st, path, err, sizeof err);
    CHECK_MSG(rc == 0, "open failed: %s", err);
    if (rc != 0) return;
    CHECK(st.count == 5 && st.meta_count == 4);
    CHECK(strcmp(bcos_st_meta_get(&st, "zeta"), "last") == 0);
    CHECK(strcmp(bcos_st_meta_get(&st, "alpha"), "first") == 0);
    CHECK(strcmp(bcos_st_meta_get(&st, "blank"), "") == 0);
    CHECK(strcmp(bcos_st_meta_get(&st, BCOS_ST_FORMAT_KEY), BCOS_ST_FORMAT_VERSION) == 0);
    CHECK(bcos_st_meta_get(&st, "missing") == NULL);
    CHECK(bcos_st_find(&st, "missing") == NULL);
    for (int i = 1; i < st.count; i++) CHECK(strcmp(st.tensors[i - 1].name, st.tensors[i].name) < 0);
    for (int i = 1; i < st.meta_count; i++) CHECK(strcmp(st.meta[i - 1].key, st.meta[i].key) < 0);
    for (int i = 0; i < 5; i++) {
        const bcos_st_entry *e = &entries[i];
        const bcos_st_tensor *t = bcos_st_find(&st, e->name);
        CHECK_MSG(t != NULL, "tensor %s missing", e->name);
        if (!t) continue;
        CHECK(t->dtype == e->dtype && strcmp(t->dtype_name, bcos_dtype_name(e->dtype)) == 0);
        CHECK(t->ndim == e->ndim);
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            CHECK(t->shape[d] == e->shape[d]);
            numel *= (size_t)e->shape[d];
        }
        CHECK(t->numel == numel && t->nbytes == numel * (e->dtype == BCOS_F32 ? 4 : 2));
        float out[32];
        CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0);
        for (size_t k = 0; k < numel; k++)
            CHECK_MSG(f32_bits(out[k]) == f32_bits(e->data[k]), "%s[%zu] = %g, wrote %g", e->name, k, (double)out[k],
                      (double)e->data[k]);
    }
    /* The data is aligned for every dtype (F32 first, an 8-byte-padded header). */
    const uint8_t *base = st.map;
    for (int i = 0; i < st.count; i++) CHECK((size_t)(st.tensors[i].data - base) % 4 == 0 || st.tensors[i].dtype != BCOS_F32);
    uint64_t header_len = 0;
    for (int b = 7; b >= 0; b--) header_len = header_len << 8 | base[b];
    CHECK(header_len % 8 == 0);
    const char *meta_json = "{\"__metadata__\":{\"alpha\":\"first\",\"blank\":\"\",\"format_version\":\"1\",\"zeta\":\"last\"},";
    CHECK(memcmp(base + 8, meta_json, strlen(meta_json)) == 0);
    bcos_st_close(&st);
    CHECK(st.map == NULL && st.count == 0);
}

static void test_accepted_edge_cases(void) {
    char err[BCOS_ERRLEN];
    bcos_safetensors st;
    const char *path = temp_path("edge.safetensors");
    /* Unconvertible dtypes are listed, not refused; padding spaces, zero-size tensors sharing an
     * offset, a 0-dim scalar, sub-byte dtypes filling whole bytes. */
    write_st_file(path,
                  "{\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                  "\"i64\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},"
                  "\"none1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                  "\"none2\":{\"dtype\":\"BF16\",\"shape\":[3,0],\"data_offsets\":[16,16]},"
                  "\"fp4\":{\"dtype\":\"F4\",\"shape\":[2,3],\"data_offsets\":[16,19]},"
                  "\"fnuz\":{\"dtype\":\"F8_E4M3FNUZ\",\"shape\":[1],\"data_offsets\":[19,20], \"extra\": true},"
                  "\"__metadata__\":{}}   \t\n",
                  20);
    int rc = bcos_st_open(&st, path, err, sizeof err);
    CHECK_MSG(rc == 0, "rejected: %s", err);
    if (rc != 0) return;
    CHECK(st.count == 6 && st.meta_count == 0);
    const bcos_st_tensor *f64 = bcos_st_find(&st, "f64"), *i64 = bcos_st_find(&st, "i64");
    const bcos_st_tensor *fp4 = bcos_st_find(&st, "fp4"), *fnuz = bcos_st_find(&st, "fnuz");
    CHECK(f64 && f64->dtype == BCOS_DTYPE_OTHER && strcmp(f64->dtype_name, "F64") == 0);
    CHECK(i64 && i64->dtype == BCOS_I64 && i64->ndim == 0 && i64->numel == 1);
    CHECK(fp4 && fp4->nbytes == 3 && fp4->numel == 6);
    CHECK(fnuz && strcmp(fnuz->dtype_name, "F8_E4M3FNUZ") == 0);
    float out[8];
    if (f64) {
        CHECK(bcos_st_to_f32(f64, out, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "tensor 'f64'") && strstr(err, "F64"), "message '%s'", err);
    }
    if (i64) CHECK(bcos_st_to_f32(i64, out, err, sizeof err) == -1);
    bcos_st_close(&st);

    write_st_file(path, "{}", 0);
    CHECK(bcos_st_open(&st, path, err, sizeof err) == 0 && st.count == 0);
    bcos_st_close(&st);
}

static void test_rejected_framing(void) {
    const char *path = temp_path("short.safetensors");
    write_bytes(path, "\x02\0\0\0", 4);
    expect_rejected_file(path, NULL, "too short");
    write_bytes(path, "", 0);
    expect_rejected_file(path, NULL, "too short");
    write_bytes(path, "\x40\0\0\0\0\0\0\0{}", 10);
    expect_rejected_file(path, NULL, "runs past the end");
    write_bytes(path, "\0\0\0\0\0\0\0\x01{}", 10);
    expect_rejected_file(path, NULL, "beyond the 100000000-byte limit");
    write_bytes(path, "\x03\0\0\0\0\0\0\0{\0}", 11);
    expect_rejected_file(path, NULL, "NUL byte");
    expect_rejected("utf8.st", "{\"\xc3\x28\":1}", 0, NULL, "not valid UTF-8 (at header byte 2)");
    expect_rejected("surrogate.st", "{\"\xed\xa0\x80\":1}", 0, NULL, "not valid UTF-8");
    expect_rejected("overlong.st", "{\"\xc0\xaf\":1}", 0, NULL, "not valid UTF-8");
    expect_rejected("escnul.st", "{\"a\\\\u0000\":{\"a\\u0000b\":{}}}", 0, NULL, "escapes a NUL character (at header byte 15)");
    expect_rejected("cut.st", "{\"\":1}\xe2\x82", 0, NULL, "not valid UTF-8 (at header byte 6)");
    expect_rejected_file(g_dir, NULL, "not a regular file");
    expect_rejected_file(temp_path("does_not_exist"), NULL, "cannot open");
}

static void test_rejected_header(void) {
    expect_rejected("json.st", "{\"a\":", 0, NULL, "not valid JSON");
    expect_rejected("array.st", "[1,2]", 0, NULL, "not a JSON object");
    expect_rejected("trailing.st", "{} {}", 0, NULL, "bytes after its JSON value");
    expect_rejected("entry.st", "{\"w\":5}", 0, "w", "not a JSON object");
    expect_rejected("nodtype.st", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "w", "no \"dtype\"");
    expect_rejected("noshape.st", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "w", "no \"shape\"");
    expect_rejected("nooffsets.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "w", "no \"data_offsets\"");
    expect_rejected("dtypetype.st", "{\"w\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "w",
                    "\"dtype\" is not a string");
    expect_rejected("shapetype.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4, "w",
                    "\"shape\" is not an array");
    expect_rejected("offsetstype.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0-4\"}}", 4, "w",
                    "not a pair of non-negative integers");
    expect_rejected("offsets3.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "w",
                    "not a pair of non-negative integers");
    expect_rejected("offsetsneg.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "w",
                    "not a pair of non-negative integers");
    expect_rejected("offsetshuge.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e300]}}", 4, "w",
                    "not a pair of non-negative integers");
    expect_rejected("negdim.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4, "w",
                    "dimension 1 is not a non-negative integer");
    expect_rejected("fracdim.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "w",
                    "dimension 0 is not a non-negative integer");
    expect_rejected("strdim.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "w",
                    "dimension 0 is not a non-negative integer");
    expect_rejected("ndim.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                    "w", "9 dimensions");
    expect_rejected("numel.st",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,4]}}", 4, "w",
                    "overflows the element count");
    expect_rejected("nbytes.st",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,2],\"data_offsets\":[0,4]}}", 4, "w",
                    "overflows the byte count");
    expect_rejected("subbyte.st", "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "w",
                    "not a whole number of bytes");
    expect_rejected("dtype.st", "{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "w",
                    "unknown dtype 'Q7'");
    expect_rejected("metatype.st", "{\"__metadata__\":[\"a\"]}", 0, NULL, "\"__metadata__\" is not a JSON object");
    expect_rejected("metavalue.st", "{\"__metadata__\":{\"epoch\":3}}", 0, NULL, "key 'epoch' is not a string");
    expect_rejected("metakey.st", "{\"__metadata__\":{\"k\":\"1\",\"j\":\"\",\"k\":\"2\"}}", 0, NULL,
                    "\"__metadata__\" key 'k' appears twice");
    expect_rejected("metatwice.st", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, NULL, "appears twice");
}

static void test_rejected_layout(void) {
    expect_rejected("reversed.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "w",
                    "are reversed");
    expect_rejected("beyond.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "w",
                    "run past the 8 data bytes");
    expect_rejected("size.st", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "w",
                    "hold 8 bytes but shape [3] of F32 needs 12");
    expect_rejected("overlap.st",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                    12, "b", "overlap tensor 'a'");
    expect_rejected("hole.st",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                    12, "b", "[4, 8) before tensor 'b' belong to no tensor");
    expect_rejected("lead.st", "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "b",
                    "[0, 4) before tensor 'b'");
    expect_rejected("tail.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, NULL,
                    "[4, 8) at the end belong to no tensor");
    expect_rejected("notensor.st", "{}", 3, NULL, "[0, 3) at the end");
    expect_rejected("duplicate.st",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, "a", "duplicate tensor name");
    /* Names in messages stay on one line. */
    expect_rejected("ctrlname.st", "{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "a?b",
                    "needs 4");
}

static uint8_t *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*len + 1);
    if (fread(buf, 1, *len, f) != *len) *len = 0;
    fclose(f);
    return buf;
}

/* Every proper prefix of a valid file, and the file with a byte appended, must be refused: the
 * data has to end exactly where the file does. Exact-size heap copies let ASan see any overread. */
static void test_truncated_and_extended(void) {
    size_t len = 0;
    uint8_t *whole = read_whole(temp_path("round_trip.safetensors"), &len);
    CHECK(whole != NULL && len > 100);
    if (!whole) return;
    char err[BCOS_ERRLEN];
    bcos_safetensors st;
    int accepted = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *prefix = malloc(n ? n : 1);
        memcpy(prefix, whole, n);
        if (bcos_st_parse(&st, prefix, n, err, sizeof err) == 0) accepted++, bcos_st_close(&st);
        else CHECK(strncmp(err, "buffer: ", 8) == 0);
        free(prefix);
    }
    CHECK_MSG(accepted == 0, "%d truncated buffers accepted", accepted);
    for (size_t n = 0; n < len; n += 37) {
        const char *path = temp_path("truncated.safetensors");
        write_bytes(path, whole, n);
        CHECK(bcos_st_open(&st, path, err, sizeof err) == -1);
    }
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, whole, len);
    longer[len] = 0;
    CHECK(bcos_st_parse(&st, longer, len + 1, err, sizeof err) == -1);
    CHECK(bcos_st_parse(&st, longer, len, err, sizeof err) == 0);
    bcos_st_close(&st);
    free(longer);
    free(whole);
}

static void expect_write_refused(const bcos_st_entry *entries, int n, const bcos_st_meta *meta, int n_meta,
                                 const char *problem) {
    char err[BCOS_ERRLEN] = "";
    const char *path = temp_path("refused.safetensors");
    CHECK(bcos_st_write(path, entries, n, meta, n_meta, err, sizeof err) == -1);
    CHECK_MSG(strncmp(err, path, strlen(path)) == 0, "message '%s' does not name the file", err);
    CHECK_MSG(strstr(err, problem) != NULL, "message '%s' does not say '%s'", err, problem);
    CHECK(access(path, F_OK) != 0);
}

static void test_write_refusals(void) {
    float x[2] = {1, 2};
    const int64_t two[] = {2}, negative[] = {-2};
    const bcos_st_entry twice[] = {{"w", BCOS_F32, 1, two, x}, {"w", BCOS_F16, 1, two, x}};
    expect_write_refused(twice, 2, NULL, 0, "duplicate tensor name (tensor 'w')");
    const bcos_st_entry reserved[] = {{"__metadata__", BCOS_F32, 1, two, x}};
    expect_write_refused(reserved, 1, NULL, 0, "reserved");
    const bcos_st_entry neg[] = {{"w", BCOS_F32, 1, negative, x}};
    expect_write_refused(neg, 1, NULL, 0, "negative dimension (tensor 'w')");
    const bcos_st_entry f64[] = {{"w", BCOS_DTYPE_OTHER, 1, two, x}};
    expect_write_refused(f64, 1, NULL, 0, "only F32, F16 and BF16");
    const bcos_st_meta version[] = {{BCOS_ST_FORMAT_KEY, "2"}};
    expect_write_refused(twice, 1, version, 1, "metadata key 'format_version' is reserved");
    const bcos_st_meta repeated[] = {{"k", "1"}, {"k", "2"}};
    expect_write_refused(twice, 1, repeated, 2, "metadata key 'k' is given twice");

    /* A failed write leaves what was at the path, and no temporary file. What is not a regular file
     * is refused before anything is written: a rename would put a regular file in its place. */
    char err[BCOS_ERRLEN] = "";
    const char *folder = temp_path("folder");
    CHECK(mkdir(folder, 0755) == 0);
    CHECK(bcos_st_write(folder, twice, 1, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "folder: is a directory, not a regular file") != NULL, "message '%s'", err);
    CHECK(tt_count_prefixed(g_dir, "folder.tmp.") == 0);
    rmdir(folder);
    char fifo[600], link_to_null[600];
    snprintf(fifo, sizeof fifo, "%s", temp_path("pipe"));
    snprintf(link_to_null, sizeof link_to_null, "%s", temp_path("null"));
    CHECK(mkfifo(fifo, 0644) == 0 && symlink("/dev/null", link_to_null) == 0);
    CHECK(bcos_st_write(fifo, twice, 1, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "pipe: is a named pipe (FIFO), not a regular file") != NULL, "message '%s'", err);
    CHECK(bcos_st_write(link_to_null, twice, 1, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "null: is a character device, not a regular file") != NULL, "message '%s'", err);
    struct stat st;
    CHECK(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(lstat(link_to_null, &st) == 0 && S_ISLNK(st.st_mode) && stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(tt_count_prefixed(g_dir, "pipe.tmp.") == 0 && tt_count_prefixed(g_dir, "null.tmp.") == 0);
    unlink(fifo);
    unlink(link_to_null);
    CHECK(bcos_st_write(temp_path("no/such/dir.st"), twice, 1, NULL, 0, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "no/such/dir.st: cannot create a temporary file") != NULL, "message '%s'", err);
}

static void remove_temp_dir(void) {
    DIR *dir = opendir(g_dir);
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(temp_path(e->d_name));
    if (dir) closedir(dir);
    rmdir(g_dir);
}

int main(void) {
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_f16_ieee_patterns();
    test_bf16_ieee_patterns();
    test_round_trip();
    test_accepted_edge_cases();
    test_rejected_framing();
    test_rejected_header();
    test_rejected_layout();
    test_truncated_and_extended();
    test_write_refusals();
    remove_temp_dir();
    return test_summary("test_safetensors");
}
