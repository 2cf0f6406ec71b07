/* The fetch retry policy: classifies failed transfers and computes jittered exponential backoff. */
#include "fetch_retry.h"

bool fetch_retryable(CURLcode code, long http_status) {
    switch (code) {
    case CURLE_HTTP_RETURNED_ERROR:
        /* Timeouts, rate limits and server errors pass; other client errors (404, 403, 416) stay. */
        return http_status == 408 || http_status == 425 || http_status == 429 || http_status >= 500;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_OUT_OF_MEMORY:
        return false;
    default:
        return true;
    }
}

long fetch_backoff_ms(const bcos_fetch_options *opt, int retry, bcos_rng *rng) {
    long delay = opt->backoff_ms;
    for (int i = 1; i < retry && delay < opt->backoff_max_ms; i++) delay *= 2;
    if (delay > opt->backoff_max_ms) delay = opt->backoff_max_ms;
    long half = delay / 2;
    return half + (long)bcos_rng_below(rng, (uint64_t)(delay - half) + 1);
}
