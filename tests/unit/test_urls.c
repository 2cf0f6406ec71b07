/* URL lists: brace ranges with and without zero padding, several braces, "::"-joined sources, every
 * accepted scheme, and each rejection with a message naming the pattern. Expected lists are written
 * out by hand (bash's brace expansion gives the same). */
#include "bcos/urls.h"

#include "test.h"

#include <string.h>

static void expect_list(const char *pattern, const char *const *expected, long n) {
    bcos_url_list list;
    char err[512] = "";
    int rc = bcos_urls_expand(&list, pattern, err, sizeof err);
    CHECK_MSG(rc == 0, "'%s' rejected: %s", pattern, err);
    CHECK_MSG(list.count == n, "'%s' gave %ld URLs, expected %ld", pattern, list.count, n);
    for (long i = 0; i < n && i < list.count; i++)
        CHECK_MSG(strcmp(list.urls[i], expected[i]) == 0, "'%s'[%ld] = '%s', expected '%s'", pattern, i,
                  list.urls[i], expected[i]);
    bcos_urls_free(&list);
}

static void expect_rejected(const char *pattern, const char *problem) {
    bcos_url_list list;
    char err[512] = "";
    int rc = bcos_urls_expand(&list, pattern, err, sizeof err);
    CHECK_MSG(rc == -1, "'%s' was accepted", pattern);
    CHECK(list.count == 0 && list.urls == NULL);
    char named[256];
    snprintf(named, sizeof named, "url list '%s': ", pattern);
    CHECK_MSG(strncmp(err, named, strlen(named)) == 0, "message '%s' does not name the pattern", err);
    CHECK_MSG(strstr(err, problem) != NULL, "message '%s' does not say '%s'", err, problem);
}

static void test_ranges(void) {
    const char *padded[] = {"shard-000998.tar", "shard-000999.tar", "shard-001000.tar"};
    expect_list("shard-{000998..001000}.tar", padded, 3);
    const char *plain[] = {"s8.tar", "s9.tar", "s10.tar"};
    expect_list("s{8..10}.tar", plain, 3);
    const char *single_zero[] = {"a0", "a1", "a2"};
    expect_list("a{0..2}", single_zero, 3);
    const char *hi_padded[] = {"a008", "a009", "a010"};
    expect_list("a{8..010}", hi_padded, 3);
    const char *lo_padded[] = {"a08", "a09", "a10"};
    expect_list("a{08..10}", lo_padded, 3);
    const char *one[] = {"x-7-y"};
    expect_list("x-{7..7}-y", one, 1);
    const char *two_braces[] = {"d0/s00.tar", "d0/s01.tar", "d1/s00.tar", "d1/s01.tar"};
    expect_list("d{0..1}/s{00..01}.tar", two_braces, 4);
    const char *adjacent[] = {"10", "11", "20", "21"};
    expect_list("{1..2}{0..1}", adjacent, 4);
}

static void test_sources_and_schemes(void) {
    const char *joined[] = {"http://127.0.0.1:8080/a-0.tar", "http://127.0.0.1:8080/a-1.tar",
                            "https://example.org/b.tar", "file:///data/c-9.tar", "relative/d.tar",
                            "/abs/e.tar"};
    expect_list("http://127.0.0.1:8080/a-{0..1}.tar::https://example.org/b.tar::file:///data/c-{9..9}.tar"
                "::relative/d.tar::/abs/e.tar",
                joined, 6);
    CHECK(bcos_url_kind_of("http://h/x") == BCOS_URL_HTTP);
    CHECK(bcos_url_kind_of("HTTPS://h/x") == BCOS_URL_HTTPS);
    CHECK(bcos_url_kind_of("file:///x") == BCOS_URL_FILE);
    CHECK(bcos_url_kind_of("dir/x.tar") == BCOS_URL_PATH);
    CHECK(bcos_url_kind_of("c:/x.tar") == BCOS_URL_PATH);
    CHECK(strcmp(bcos_url_path("file:///data/x.tar"), "/data/x.tar") == 0);
    CHECK(strcmp(bcos_url_path("data/x.tar"), "data/x.tar") == 0);
}

static void test_rejections(void) {
    expect_rejected("", "empty");
    expect_rejected("a.tar::", "source 2 of 2 is empty");
    expect_rejected("::a.tar", "source 1 of 2 is empty");
    expect_rejected("a{1..0}.tar", "reversed");
    expect_rejected("a{001..000}.tar", "reversed");
    expect_rejected("a{1..}.tar", "not a decimal range");
    expect_rejected("a{..3}.tar", "not a decimal range");
    expect_rejected("a{1...3}.tar", "not a decimal range");
    expect_rejected("a{x..y}.tar", "not a decimal range");
    expect_rejected("a{-1..3}.tar", "not a decimal range");
    expect_rejected("a{1,2}.tar", "not a decimal range");
    expect_rejected("a{}.tar", "not a decimal range");
    expect_rejected("a{1234567890123456789..1234567890123456790}", "not a decimal range");
    expect_rejected("a{0..3.tar", "unclosed");
    expect_rejected("a{0..{1..2}}.tar", "nested");
    expect_rejected("a0..3}.tar", "'}' without '{'");
    expect_rejected("s3://bucket/a.tar", "scheme 's3'");
    expect_rejected("ok.tar::ftp://h/a.tar", "scheme 'ftp'");
    expect_rejected("http:///a.tar", "no host");
    expect_rejected("https://", "no host");
    expect_rejected("file://relative/a.tar", "absolute path");
    expect_rejected("a{0..9999}b{0..9999}", "more than");
}

/* "::" inside an IPv6 host's brackets is part of the URL, not a separator between sources. */
static void test_ipv6_hosts(void) {
    const char *v6[] = {"http://[::1]:18000/a-0.tar", "http://[::1]:18000/a-1.tar", "https://[fe80::1:2]/b.tar",
                        "c.tar"};
    expect_list("http://[::1]:18000/a-{0..1}.tar::https://[fe80::1:2]/b.tar::c.tar", v6, 4);
    expect_rejected("http://[::1]:18000/a.tar::", "source 2 of 2 is empty");
}

static void expect_redacted(const char *text, const char *shown) {
    char *got = bcos_url_redact(text);
    CHECK_MSG(strcmp(got, shown) == 0, "'%s' redacted to '%s', expected '%s'", text, got, shown);
    free(got);
}

/* Every URL's userinfo goes, whatever surrounds it; nothing else changes. */
static void test_redaction(void) {
    expect_redacted("http://user:secret@host:80/a.tar", "http://***@host:80/a.tar");
    expect_redacted("https://tok@h/a.tar::http://u:p@[::1]:9/b.tar::c.tar",
                    "https://***@h/a.tar::http://***@[::1]:9/b.tar::c.tar");
    expect_redacted("fetch http://a:b@h/x.tar: gave up; 'http://c:d@h/y' too",
                    "fetch http://***@h/x.tar: gave up; 'http://***@h/y' too");
    expect_redacted("http://h/p@q.tar?x=a@b", "http://h/p@q.tar?x=a@b"); /* an '@' after the host is no userinfo */
    expect_redacted("http://u:p:@@h/", "http://***@h/");
    expect_redacted("plain text, no URL", "plain text, no URL");
    expect_redacted("://@", "://***@");
    expect_redacted("", "");
    char buf[24] = "http://u:pw@host/a.tar";
    bcos_url_redact_buffer(buf, sizeof buf);
    CHECK_MSG(strcmp(buf, "http://***@host/a.tar") == 0, "in place: '%s'", buf);
    /* an expansion error quotes the pattern without its credentials */
    bcos_url_list list;
    char err[512] = "";
    CHECK(bcos_urls_expand(&list, "http://user:secret@h/a{1..0}.tar", err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "secret") == NULL && strstr(err, "http://***@h/a{1..0}.tar"), "message '%s'", err);
}

int main(void) {
    test_ranges();
    test_sources_and_schemes();
    test_rejections();
    test_ipv6_hosts();
    test_redaction();
    return test_summary("test_urls");
}
