/* One-line error messages for the data module's checks of user input: "PREFIX: message" into the
 * caller's buffer. Both return -1, so that `return data_error(...)` ends a failed check. */
#ifndef BCOS_DATA_ERROR_H
#define BCOS_DATA_ERROR_H

#include "bcos/check.h"

#include <stdarg.h>
#include <stddef.h>

/* prefix NULL: the message alone. err NULL or errlen 0: nothing is written. */
int data_verror(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap);
int data_error(char *err, size_t errlen, const char *prefix, const char *fmt, ...) BCOS_PRINTF(4, 5);

#endif
