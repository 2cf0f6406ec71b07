/* The fetch retry policy: which failures are retried (server overload and network trouble, not
 * refused certificates or missing files), and backoff delays that double per retry up to the cap,
 * are drawn from the upper half of each delay, and repeat exactly for the same seed. */
#include "../../src/stream/fetch_retry.h"

#include "test.h"

static void test_classification(void) {
    CHECK(fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 500));
    CHECK(fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 503));
    CHECK(fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 429));
    CHECK(fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 408));
    CHECK(!fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 404));
    CHECK(!fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 403));
    CHECK(!fetch_retryable(CURLE_HTTP_RETURNED_ERROR, 416));
    CHECK(fetch_retryable(CURLE_COULDNT_CONNECT, 0));
    CHECK(fetch_retryable(CURLE_OPERATION_TIMEDOUT, 0));
    CHECK(fetch_retryable(CURLE_PARTIAL_FILE, 200));
    CHECK(fetch_retryable(CURLE_RECV_ERROR, 200));
    CHECK(fetch_retryable(CURLE_COULDNT_RESOLVE_HOST, 0));
    CHECK(!fetch_retryable(CURLE_PEER_FAILED_VERIFICATION, 0));
    CHECK(!fetch_retryable(CURLE_SSL_CACERT_BADFILE, 0));
    CHECK(!fetch_retryable(CURLE_UNSUPPORTED_PROTOCOL, 0));
    CHECK(!fetch_retryable(CURLE_TOO_MANY_REDIRECTS, 301));
}

static void test_backoff(void) {
    bcos_fetch_options opt;
    bcos_fetch_options_default(&opt);
    opt.backoff_ms = 100;
    opt.backoff_max_ms = 1000;
    bcos_rng a, b, c;
    bcos_rng_seed(&a, 5);
    bcos_rng_seed(&b, 5);
    bcos_rng_seed(&c, 6);
    const long caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
    int differs = 0;
    for (int round = 0; round < 50; round++)
        for (int retry = 1; retry <= 7; retry++) {
            long da = fetch_backoff_ms(&opt, retry, &a);
            long db = fetch_backoff_ms(&opt, retry, &b);
            long dc = fetch_backoff_ms(&opt, retry, &c);
            long cap = caps[retry - 1];
            CHECK_MSG(da >= cap / 2 && da <= cap, "retry %d: %ld ms outside [%ld, %ld]", retry, da, cap / 2, cap);
            CHECK(da == db);
            differs += da != dc;
        }
    CHECK_MSG(differs > 100, "another seed gave the same delays %d times of 350", 350 - differs);
    opt.backoff_ms = 0;
    CHECK(fetch_backoff_ms(&opt, 3, &a) == 0);
}

int main(void) {
    test_classification();
    test_backoff();
    return test_summary("test_fetch_retry");
}
