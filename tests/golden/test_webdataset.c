/* WebDataset compatibility against the Python webdataset package, both ways
 * (tools/ref/make_webdataset_fixtures.py). Peer -> us: shards written by webdataset's ShardWriter and
 * TarWriter (ustar, pax, GNU) and by tarfile must give through bcos_samples_* exactly the sample stream
 * webdataset's reader gives (keys, extensions in member order, payload sizes and SHA-256), kept to the
 * extensions we read. Us -> peer: `bcos shards write` ($BCOS_BIN) run now on the committed sources must
 * write exactly the samples webdataset listed from the shards our writer wrote then, with the same
 * shard cut (sizes.json, nshards.txt); and the committed shards read through our reader agree too. */
#include "bcos/samples.h"

#include "bcos/check.h"
#include "bcos/sha256.h"
#include "support/temp_tree.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURES "tests/fixtures/webdataset/"

static char g_dir[] = "/tmp/bcos_test_webdataset_XXXXXX";

static cJSON *read_json(const char *path) {
    char *text = bcos_read_file(path, NULL);
    BCOS_CHECK(text, "fixture missing: run tools/ref/make_webdataset_fixtures.py (docs/DATA.md)");
    cJSON *json = cJSON_Parse(text);
    BCOS_CHECK(json, "fixture JSON does not parse");
    free(text);
    return json;
}

/* Whether sample s is the listed one; why says how it differs. */
static bool same_sample(const bcos_sample *s, const cJSON *want, char *why, size_t why_len) {
    const char *key = cJSON_GetObjectItem(want, "key")->valuestring;
    const cJSON *members = cJSON_GetObjectItem(want, "members");
    if (strcmp(s->key, key) != 0) return snprintf(why, why_len, "key '%s', webdataset '%s'", s->key, key), false;
    if (s->n_members != cJSON_GetArraySize(members))
        return snprintf(why, why_len, "'%s': %d members, webdataset %d", key, s->n_members, cJSON_GetArraySize(members)),
               false;
    int i = 0;
    for (const cJSON *m = members->child; m; m = m->next, i++) {
        const bcos_sample_member *got = &s->members[i];
        char hex[BCOS_SHA256_HEX];
        bcos_sha256_hex(got->data, got->size, hex);
        const char *ext = cJSON_GetObjectItem(m, "ext")->valuestring;
        if (strcmp(got->ext, ext) != 0 || got->size != (size_t)cJSON_GetObjectItem(m, "size")->valuedouble ||
            strcmp(hex, cJSON_GetObjectItem(m, "sha256")->valuestring) != 0)
            return snprintf(why, why_len, "'%s' member %d: .%s of %zu bytes, webdataset .%s", key, i, got->ext, got->size,
                            ext),
                   false;
    }
    return true;
}

/* Reads the shard at path with our reader and compares with the listed samples. */
static void compare_shard(const char *path, const cJSON *samples) {
    bcos_data_counters c = {0};
    bcos_sample_reader *r = bcos_samples_open(path, &(bcos_fetch_options){0}, &c);
    const cJSON *want = samples->child;
    int n = 0, rc;
    bcos_sample s;
    while ((rc = bcos_samples_next(r, &s)) == 1) {
        char why[512] = "";
        CHECK_MSG(want != NULL, "%s: sample %d ('%s') beyond webdataset's %d", path, n, s.key, cJSON_GetArraySize(samples));
        if (want) CHECK_MSG(same_sample(&s, want, why, sizeof why), "%s: sample %d: %s", path, n, why);
        want = want ? want->next : NULL;
        bcos_sample_clear(&s);
        n++;
    }
    CHECK_MSG(rc == 0, "%s: %s", path, bcos_samples_error(r));
    CHECK_MSG(n == cJSON_GetArraySize(samples), "%s: %d samples, webdataset %d", path, n, cJSON_GetArraySize(samples));
    CHECK(c.shards_failed == 0 && c.headers_damaged == 0 && c.members_bad_name == 0);
    bcos_samples_close(r);
}

static void test_peer_shards(void) {
    cJSON *expected = read_json(FIXTURES "peer/expected.json");
    printf("peer shards from webdataset %s\n", cJSON_GetObjectItem(expected, "webdataset")->valuestring);
    int shards = 0;
    const cJSON *shard;
    cJSON_ArrayForEach(shard, cJSON_GetObjectItem(expected, "shards")) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "peer/%s", cJSON_GetObjectItem(shard, "file")->valuestring);
        compare_shard(path, cJSON_GetObjectItem(shard, "samples"));
        shards++;
    }
    CHECK(shards >= 5);
    cJSON_Delete(expected);
}

/* Runs "$BCOS_BIN shards write ARGS --out out"; returns the exit status. */
static int run_writer(const cJSON *args, const char *out) {
    const char *bin = getenv("BCOS_BIN");
    CHECK_MSG(bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    if (!bin) return -1;
    char *argv[64] = {(char *)bin, "shards", "write"};
    int argc = 3;
    const cJSON *a;
    cJSON_ArrayForEach(a, args) if (argc < 60) argv[argc++] = a->valuestring;
    argv[argc++] = "--out";
    argv[argc++] = (char *)out;
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        execv(bin, argv);
        _exit(127);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The value of "--split" among args, or CLIP_benchmark's default. */
static const char *split_of(const cJSON *args) {
    for (const cJSON *a = args->child; a && a->next; a = a->next)
        if (strcmp(a->valuestring, "--split") == 0) return a->next->valuestring;
    return "test";
}

static bool same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = bcos_read_file(a, &la), *y = bcos_read_file(b, &lb);
    bool same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void test_our_shards(const char *name) {
    char path[512], committed[512], written[512];
    snprintf(path, sizeof path, FIXTURES "ours/%s/listing.json", name);
    cJSON *listing = read_json(path);
    const cJSON *args = cJSON_GetObjectItem(listing, "args");
    const char *split = split_of(args);
    char out[300];
    snprintf(out, sizeof out, "%s/%s", g_dir, name);
    CHECK_MSG(run_writer(args, out) == 0, "bcos shards write for %s failed", name);
    const cJSON *shard;
    int shards = 0;
    cJSON_ArrayForEach(shard, cJSON_GetObjectItem(listing, "shards")) {
        const char *file = cJSON_GetObjectItem(shard, "file")->valuestring;
        snprintf(committed, sizeof committed, FIXTURES "ours/%s/%s/%s", name, split, file);
        snprintf(written, sizeof written, "%s/%s/%s", out, split, file);
        compare_shard(written, cJSON_GetObjectItem(shard, "samples"));
        compare_shard(committed, cJSON_GetObjectItem(shard, "samples"));
        shards++;
    }
    const char *layout[] = {"nshards.txt", "sizes.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(committed, sizeof committed, FIXTURES "ours/%s/%s/%s", name, split, layout[i]);
        snprintf(written, sizeof written, "%s/%s/%s", out, split, layout[i]);
        CHECK_MSG(same_file(committed, written), "%s: %s differs from the committed one", name, layout[i]);
    }
    snprintf(written, sizeof written, "%s/%s/%d.tar", out, split, shards);
    CHECK_MSG(access(written, F_OK) != 0, "%s: more shards than webdataset listed", name);
    printf("  ours/%s: %d shards as webdataset %s listed them\n", name, shards,
           cJSON_GetObjectItem(listing, "webdataset")->valuestring);
    cJSON_Delete(listing);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    test_peer_shards();
    test_our_shards("folder");
    test_our_shards("idx");
    test_our_shards("coco");
    tt_remove_tree(g_dir);
    return test_summary("test_webdataset");
}
