/* The fetch retry policy: which failed transfers are worth another try, and how long to wait. */
#ifndef BCOS_FETCH_RETRY_H
#define BCOS_FETCH_RETRY_H

#include "bcos/fetch.h"
#include "bcos/rng.h"

#include <curl/curl.h>
#include <stdbool.h>

/* Whether a transfer that ended with code (and, for CURLE_HTTP_RETURNED_ERROR, http_status) may
 * succeed when tried again: network trouble and server overload may, a refused certificate, a
 * missing file or a malformed URL will not. */
bool fetch_retryable(CURLcode code, long http_status);

/* The delay before retry number `retry` (1 for the first): backoff_ms doubled per earlier retry,
 * capped at backoff_max_ms, then drawn uniformly from its upper half so that many readers that
 * failed together do not come back together. */
long fetch_backoff_ms(const bcos_fetch_options *opt, int retry, bcos_rng *rng);

#endif
