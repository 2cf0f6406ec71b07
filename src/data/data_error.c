/* One-line error messages of the data module (see data_error.h), without the credentials of the URLs
 * they name. */
#include "data_error.h"

#include "bcos/urls.h"

#include <stdio.h>

int data_verror(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap) {
    if (!err || errlen == 0) return -1;
    int used = prefix ? snprintf(err, errlen, "%s: ", prefix) : 0;
    if (used >= 0 && (size_t)used < errlen) vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
    /* messages name URLs; their credentials stay out of every log and store */
    bcos_url_redact_buffer(err, errlen);
    return -1;
}

int data_error(char *err, size_t errlen, const char *prefix, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    data_verror(err, errlen, prefix, fmt, ap);
    va_end(ap);
    return -1;
}
