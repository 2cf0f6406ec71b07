/* The epoch loader: worker threads read their planned shards (bcos/shard_plan.h), turn each
 * sample into its slot of a batch through a caller's function (decode and preprocess, say), and
 * hand out whole batches in the plan's order, batch b from worker b mod W. Queues are bounded and
 * batch buffers are reused, so memory stays fixed. A sample the function refuses is skipped and
 * counted by reason; a worker whose shards run out before its last batch starts over on them
 * (counted), so every rank makes the plan's number of batches; a worker that gets no usable sample
 * from a whole pass over its shards stops the epoch with an error instead of looping. The cursor
 * after each released batch resumes the epoch exactly.
 *
 * Shuffle buffer (webdataset's, per worker): the worker keeps up to `shuffle` accepted samples
 * (their outputs from the sample function); once full, each turn emits one drawn uniformly by the
 * worker's generator (seeded from (seed, epoch, rank, worker)) and reads the next in its place. A
 * worker reads exactly the accepted samples its batches take and then drains the buffer, so an
 * epoch uses the same samples with or without one, only in another order. A sample still held after
 * `shuffle_window` later samples were read (accepted or not) goes out at the next turn instead of
 * a drawn one, which bounds how far back a resume re-reads. The cursor records each generator and
 * where the held samples were read; a resume re-reads them from there and runs the sample function
 * on those alone. Memory: shuffle x sample_bytes per worker, on top of the batch buffers. */
#ifndef BCOS_LOADER_H
#define BCOS_LOADER_H

#include "bcos/fetch.h"
#include "bcos/image.h"
#include "bcos/samples.h"
#include "bcos/shard_plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the sample function says about a sample: used, or skipped for a reason. */
typedef enum {
    BCOS_SAMPLE_OK = 0,
    BCOS_SKIP_NO_IMAGE,    /* no member the function can use */
    BCOS_SKIP_CORRUPT,     /* a payload that does not decode: corrupt, truncated, too large */
    BCOS_SKIP_UNSUPPORTED, /* a format it does not read */
    BCOS_SKIP_NO_LABEL,    /* a label was required and is missing */
    BCOS_SKIP_BAD_LABEL,   /* a label that does not parse or is out of range */
    BCOS_SKIP_REASONS
} bcos_sample_verdict;

/* Writes sample s into out (sample_bytes bytes: uint8 crops, floats, whatever the caller batches)
 * and *label (-1 when it has none). On a skip,
 * writes a one-line reason into msg. Called from worker threads at once: ctx must allow that. */
typedef bcos_sample_verdict (*bcos_sample_fn)(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                              size_t msg_len);

/* Name of a verdict for logs and reports: "ok", "no_image", ... */
const char *bcos_sample_verdict_name(bcos_sample_verdict v);

typedef struct {
    const char *const *urls;        /* the shard URLs the plan's indices refer to */
    const bcos_epoch_plan *plan;    /* kept by the caller until bcos_loader_stop */
    const bcos_data_cursor *resume; /* NULL: the epoch's start; else a cursor that fits the plan */
    bcos_fetch_options fetch;
    size_t sample_bytes;
    bcos_sample_fn fn;
    void *ctx;
    int ready_batches;              /* batches each worker may prepare ahead (at least 1) */
    long shuffle;                   /* samples each worker's shuffle buffer holds (0: read order; at most
                                     * BCOS_SHUFFLE_MAX) */
    long shuffle_window;            /* samples read after which a held one goes out next; 0: 8 x shuffle */
    const long *counts;             /* known samples of each shard (what the plan was made from), to
                                     * count the samples a lost shard took with it; NULL: unknown */
} bcos_loader_config;

/* Where a batch's sample came from. */
typedef struct {
    int shard;   /* index into urls */
    long index;  /* the sample's index within its shard */
} bcos_sample_origin;

typedef struct {
    long index;  /* position in the epoch */
    long size;   /* the plan's batch size */
    void *data;  /* size x sample_bytes */
    int *labels;
    bcos_sample_origin *origins;
} bcos_batch;

/* Counters of the whole loader (all workers). */
typedef struct {
    bcos_data_counters data;
    long skipped[BCOS_SKIP_REASONS]; /* by verdict; [BCOS_SAMPLE_OK] counts samples accepted (used or
                                      * held; a resume counts the held ones again) */
    long restarts;                   /* passes a worker started over because its shards ran dry */
} bcos_loader_counters;

typedef struct bcos_loader bcos_loader;

/* Starts the workers. Returns NULL with a message when the resume cursor does not fit the plan and
 * the shuffle buffer (bcos_data_cursor_check), or the shuffle settings are out of range. */
bcos_loader *bcos_loader_start(const bcos_loader_config *cfg, char *err, size_t errlen);
/* The next batch of the epoch, waiting for it: 1 with *batch set, 0 when the epoch is complete, -1
 * when a worker failed (bcos_loader_error says why). Release each batch before asking for the next. */
int bcos_loader_next(bcos_loader *l, bcos_batch **batch);
/* The same, waiting at most timeout_ms: BCOS_LOADER_WAITING when the batch is not ready by then
 * (nothing taken: ask again, or stop the loader). Lets a caller waiting for a stalled shard act on
 * a request of its own (a signal) within a timeout. */
#define BCOS_LOADER_WAITING 2
int bcos_loader_next_within(bcos_loader *l, bcos_batch **batch, long timeout_ms);
/* Gives the batch's buffer back to its worker and moves the cursor past it. */
void bcos_loader_release(bcos_loader *l, bcos_batch *batch);
/* The cursor after the batches released so far, to free with bcos_data_cursor_free. */
void bcos_loader_cursor(bcos_loader *l, bcos_data_cursor *cursor);
void bcos_loader_counters_get(bcos_loader *l, bcos_loader_counters *out);
/* The shards lost so far: each time a worker's shard ended (failed, or a clean end short of its
 * known count) in its first pass with samples of its piece unread, adds those samples to
 * samples[shard] (indexed like urls), or 1 to unknown[shard] when the config gave no counts and the
 * shard failed. Samples held or read again in a later pass are not counted again. */
void bcos_loader_losses(bcos_loader *l, int64_t *samples, int64_t *unknown);
const char *bcos_loader_error(bcos_loader *l);
/* Stops the workers and frees everything: a worker inside a network wait or a retry's backoff leaves
 * it within a poll (the loader's stop flag is its transfers' bcos_fetch_options.stop). */
void bcos_loader_stop(bcos_loader *l);

/* ---- The sample function for images
 *
 * The loader's sample function for images: takes a sample's image member (jpg, then jpeg, png,
 * webp; or CLIP_benchmark's webp, png, jpg, jpeg), decodes it once and crops it at the model's input size, CLIP's evaluation crop or a
 * training crop (random resized crop and flip, bcos/image.h), and reads its .cls label. Four
 * outputs: the uint8 crop (S x S x 3, to normalise on the device), CLIP's normalised tensor (float
 * [3, S, S]), the B-cos input [u, 1 - u] (float [6, S, S]), or both floats of the same crop, for a
 * student and its teacher. Refusals are verdicts for the loader to count (bcos/loader.h). */

typedef enum {
    BCOS_INPUT_CROP_U8,
    BCOS_INPUT_CLIP,
    BCOS_INPUT_BCOS6,
    BCOS_INPUT_BCOS6_CLIP /* [6, S, S] then [3, S, S] */
} bcos_input_kind;

typedef struct {
    int size; /* the model's input side S */
    bcos_input_kind kind;
    const float *mean, *std;         /* the CLIP tensors' normalisation; NULL: OpenAI CLIP's */
    bool need_label;                 /* refuse samples without .cls */
    int n_classes;                   /* > 0: labels must lie in [0, n_classes) */
    bcos_decode_mode decode;         /* EXACT (PIL's pixels, the default) or FAST (JPEGs shrunk in the DCT) */
    const bcos_train_augment *train; /* NULL: evaluation crops; else each sample's training crop */
    bool benchmark_order;            /* the image member CLIP_benchmark takes: webp, png, jpg, jpeg */
} bcos_image_sample_config;

/* Bytes one sample takes in a batch for this configuration. */
size_t bcos_image_sample_bytes(const bcos_image_sample_config *cfg);

/* A bcos_sample_fn; ctx is a const bcos_image_sample_config *. Labels: the .cls text as a decimal
 * integer (surrounding whitespace allowed), -1 when absent and not required. */
bcos_sample_verdict bcos_image_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                      size_t msg_len);

#endif
