/* What the evaluation's files share: the ranks' agreement on a failure and its message. */
#ifndef BCOS_EVAL_INTERNAL_H
#define BCOS_EVAL_INTERNAL_H

#include <stddef.h>

/* Whether any rank failed (a collective: every rank calls it); rank 0's err becomes the first
 * failed rank's message. */
int eval_any_failed(int failed, char *err, size_t errlen);

#endif
