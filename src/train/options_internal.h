/* What the training commands (distill, pretrain) add to their option tables (bcos/options.h): the
 * job text the store records and --help, both with the credentials in URLs redacted. */
#ifndef BCOS_TRAIN_OPTIONS_INTERNAL_H
#define BCOS_TRAIN_OPTIONS_INTERNAL_H

#include "bcos/options.h"

/* {"kind": kind, ...} with every JOB option (and the SHARDS ones when with_shards), in the table's
 * order, numbers formatted to read back exactly, credentials in URLs redacted. Heap. */
char *option_job_text(const option_table *t, const void *cfg, const char *kind, int with_shards);
/* Every option with its current value and help (for --help). */
void option_print(const option_table *t, const void *cfg);

#endif
