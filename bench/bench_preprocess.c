/* Benchmark: decoding and preprocessing of real photos from WebDataset shards on the CPU, as the
 * data path feeds a model of input size 224. bench/preprocess.sh runs it beside
 * bench/peer_preprocess.py (PIL, open_clip, webdataset) and against itself.
 * Usage: bench_preprocess TASK[-MODE] URLS PASSES THREADS, MODE a decoding mode: exact (the default)
 * or fast (JPEGs shrunk in the DCT).
 *   decode       decode every image (held in memory), THREADS threads
 *   eval         decode + CLIP's evaluation preprocessing to the normalised [3, 224, 224] tensor
 *   train        decode + training crop and flip to the B-cos input and the CLIP tensor
 *   loader       the epoch loader with the image sample function (CLIP tensors) reading the shards
 *                (from disk or HTTP), THREADS workers
 *   digest       one line per image: the CRC-32 of its exact 224 centre crop, in shard order
 *   diff         fast against exact decoding: mean and max abs difference of the CLIP tensors
 * Timed tasks run one untimed pass, then PASSES timed ones, and print the median. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bcos/check.h"
#include "../src/image/image_internal.h"
#include "bcos/loader.h"
#include "bcos/log.h"
#include "bcos/urls.h"
#include "bench_common.h"

#define S 224

/* The loader's batch: 25, or BCOS_BENCH_BATCH (as the peer reads it), for many workers on few photos. */
static long loader_batch(void) {
    const char *text = getenv("BCOS_BENCH_BATCH");
    return text && atol(text) > 0 ? atol(text) : 25;
}

typedef struct {
    uint8_t *data;
    size_t len;
    char *shard;
    int shard_pos; /* the shard's position in the URL list: what seeds its training crops */
    long index;
} photo;

typedef struct {
    photo *photos;
    int count;
    long *shard_samples; /* per URL */
} photo_set;

typedef struct {
    const char *task; /* without its mode */
    bcos_decode_mode mode;
    bcos_url_list urls;
    int passes, threads;
    photo_set set;
} bench;

/* Every sample's image member, in shard order, through the data plane. */
static void load_photos(bench *b) {
    photo_set *set = &b->set;
    set->shard_samples = xcalloc((size_t)b->urls.count, sizeof(long));
    int cap = 0;
    for (long u = 0; u < b->urls.count; u++) {
        bcos_data_counters counters = {0};
        bcos_fetch_options opt;
        bcos_fetch_options_default(&opt);
        bcos_sample_reader *r = bcos_samples_open(b->urls.urls[u], &opt, &counters);
        bcos_sample s;
        while (bcos_samples_next(r, &s) == 1) {
            const bcos_sample_member *m = bcos_sample_member_find(&s, "jpg");
            if (!m) m = bcos_sample_member_find(&s, "png");
            set->shard_samples[u]++;
            if (m) {
                if (set->count == cap) set->photos = xrealloc(set->photos, (size_t)(cap = cap ? 2 * cap : 256) * sizeof(photo));
                photo *p = &set->photos[set->count++];
                p->data = xmalloc(m->size);
                memcpy(p->data, m->data, m->size);
                p->len = m->size;
                p->shard = b->urls.urls[u];
                p->shard_pos = (int)u;
                p->index = s.index;
            }
            bcos_sample_clear(&s);
        }
        if (bcos_samples_error(r)[0]) bcos_fail("%s", bcos_samples_error(r));
        bcos_samples_close(r);
    }
    if (set->count == 0) bcos_fail("no images in %s", b->urls.urls[0]);
}

/* Work on one photo into a thread's buffers. */
typedef struct {
    uint8_t *crop;
    float *out;
} scratch;

static void work_on(const bench *b, const photo *p, scratch *w) {
    char err[BCOS_ERRLEN];
    int rc = 0;
    if (strcmp(b->task, "decode") == 0) {
        bcos_image img;
        rc = bcos_image_decode(&img, p->data, p->len, p->shard, err, sizeof err);
        bcos_image_free(&img);
    } else if (strcmp(b->task, "eval") == 0) {
        rc = bcos_clip_eval_decode_crop(w->crop, p->data, p->len, S, b->mode, p->shard, err, sizeof err);
        if (rc == 0) bcos_clip_normalize(w->out, w->crop, S, bcos_clip_mean, bcos_clip_std);
    } else {
        bcos_train_augment aug = {.seed = 1};
        rc = bcos_train_decode_crop(w->crop, p->data, p->len, S, &aug, p->shard_pos, p->index, b->mode, p->shard, err,
                                    sizeof err);
        if (rc == 0) {
            bcos_x6_from_crop(w->out, w->crop, S);
            bcos_clip_normalize(w->out + 6 * S * S, w->crop, S, bcos_clip_mean, bcos_clip_std);
        }
    }
    if (rc != 0) bcos_fail("%s", err);
}

typedef struct {
    const bench *b;
    int id;
    pthread_barrier_t *start, *end;
} worker;

/* Each pass: wait for the start, take the photos i = id mod threads, meet at the end. */
static void *worker_main(void *arg) {
    worker *w = arg;
    const bench *b = w->b;
    scratch s = {xmalloc((size_t)S * S * 3), xmalloc((size_t)S * S * 9 * sizeof(float))};
    for (int pass = 0; pass <= b->passes; pass++) {
        pthread_barrier_wait(w->start);
        for (int i = w->id; i < b->set.count; i += b->threads) work_on(b, &b->set.photos[i], &s);
        pthread_barrier_wait(w->end);
    }
    free(s.crop);
    free(s.out);
    return NULL;
}

/* Seconds of each pass over the photos in memory, THREADS threads; pass 0 is the warm-up. */
static void time_in_memory(const bench *b, double *times) {
    pthread_barrier_t start, end;
    pthread_barrier_init(&start, NULL, (unsigned)b->threads + 1);
    pthread_barrier_init(&end, NULL, (unsigned)b->threads + 1);
    worker *w = xcalloc((size_t)b->threads, sizeof *w);
    pthread_t *tid = xcalloc((size_t)b->threads, sizeof *tid);
    for (int t = 0; t < b->threads; t++) {
        w[t] = (worker){b, t, &start, &end};
        BCOS_CHECK(pthread_create(&tid[t], NULL, worker_main, &w[t]) == 0, "cannot start a thread");
    }
    for (int pass = 0; pass <= b->passes; pass++) {
        double t0 = bcos_now_seconds();
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&end);
        times[pass] = bcos_now_seconds() - t0;
    }
    for (int t = 0; t < b->threads; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&end);
    free(w);
    free(tid);
}

/* One epoch of the loader over the shards; returns the images delivered. */
static long loader_epoch(const bench *b, uint64_t epoch, const bcos_image_sample_config *icfg) {
    bcos_epoch_plan plan;
    char err[BCOS_ERRLEN];
    if (bcos_epoch_plan_make(&plan, b->set.shard_samples, (int)b->urls.count, 1, epoch, 0, 1, b->threads, loader_batch(), err,
                             sizeof err) != 0)
        bcos_fail("%s", err);
    bcos_loader_config cfg = {0};
    cfg.urls = (const char *const *)b->urls.urls;
    cfg.plan = &plan;
    bcos_fetch_options_default(&cfg.fetch);
    cfg.sample_bytes = bcos_image_sample_bytes(icfg);
    cfg.fn = bcos_image_sample;
    cfg.ctx = (void *)icfg;
    cfg.ready_batches = 2;
    bcos_loader *l = bcos_loader_start(&cfg, err, sizeof err);
    if (!l) bcos_fail("%s", err);
    bcos_batch *batch;
    long images = 0;
    int rc;
    while ((rc = bcos_loader_next(l, &batch)) == 1) {
        images += batch->size;
        bcos_loader_release(l, batch);
    }
    if (rc < 0) bcos_fail("%s", bcos_loader_error(l));
    bcos_loader_stop(l);
    bcos_epoch_plan_free(&plan);
    return images;
}

static void time_loader(const bench *b, double *times, long *images) {
    bcos_image_sample_config icfg = {.size = S, .kind = BCOS_INPUT_CLIP};
    icfg.decode = b->mode;
    for (int pass = 0; pass <= b->passes; pass++) {
        double t0 = bcos_now_seconds();
        *images = loader_epoch(b, (uint64_t)pass, &icfg);
        times[pass] = bcos_now_seconds() - t0;
    }
}

static void print_digests(const bench *b) {
    uint8_t *crop = xmalloc((size_t)S * S * 3);
    char err[BCOS_ERRLEN];
    for (int i = 0; i < b->set.count; i++) {
        const photo *p = &b->set.photos[i];
        if (bcos_clip_eval_decode_crop(crop, p->data, p->len, S, BCOS_DECODE_EXACT, p->shard, err, sizeof err))
            bcos_fail("%s", err);
        printf("%ld %08lx\n", p->index, crc32(crc32(0L, Z_NULL, 0), crop, S * S * 3));
    }
    free(crop);
}

/* The CLIP tensor of one photo in a decoding mode. */
static void tensor_of(float *out, uint8_t *crop, const photo *p, bcos_decode_mode mode) {
    char err[BCOS_ERRLEN];
    if (bcos_clip_eval_decode_crop(crop, p->data, p->len, S, mode, p->shard, err, sizeof err)) bcos_fail("%s", err);
    bcos_clip_normalize(out, crop, S, bcos_clip_mean, bcos_clip_std);
}

static void print_fast_difference(const bench *b) {
    size_t n = (size_t)S * S * 3;
    uint8_t *crop = xmalloc(n);
    float *exact = xmalloc(n * sizeof(float)), *fast = xmalloc(n * sizeof(float));
    double sum = 0, max_abs = 0;
    int shrunk = 0;
    for (int i = 0; i < b->set.count; i++) {
        const photo *p = &b->set.photos[i];
        tensor_of(exact, crop, p, BCOS_DECODE_EXACT);
        tensor_of(fast, crop, p, BCOS_DECODE_FAST);
        double image_sum = 0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)fast[k] - exact[k]);
            image_sum += d;
            max_abs = d > max_abs ? d : max_abs;
        }
        sum += image_sum;
        shrunk += image_sum > 0;
    }
    double level = 1.0 / 255 / bcos_clip_std[1];
    printf("fast vs exact CLIP tensors over %d images: mean abs %.4f, max abs %.3f; over the %d decoded smaller: "
           "mean abs %.4f (normalised units; an 8-bit level is about %.4f)\n",
           b->set.count, sum / ((double)n * b->set.count), max_abs, shrunk,
           shrunk ? sum / ((double)n * shrunk) : 0.0, level);
    free(crop);
    free(exact);
    free(fast);
}

int main(int argc, char **argv) {
    if (argc != 5) bcos_fail("usage: %s TASK[-MODE] URLS PASSES THREADS", argv[0]);
    bench b = {.task = argv[1], .passes = atoi(argv[3]), .threads = atoi(argv[4])};
    char err[BCOS_ERRLEN];
    char *dash = strchr(argv[1], '-');
    if (dash) {
        *dash = '\0';
        if (bcos_decode_mode_parse(&b.mode, dash + 1, err, sizeof err)) bcos_fail("%s", err);
    }
    if (b.passes < 1 || b.threads < 1) bcos_fail("PASSES and THREADS must be positive");
    if (bcos_urls_expand(&b.urls, argv[2], err, sizeof err)) bcos_fail("%s", err);
    load_photos(&b);
    if (strcmp(b.task, "digest") == 0) {
        print_digests(&b);
        return 0;
    }
    if (strcmp(b.task, "diff") == 0) {
        print_fast_difference(&b);
        return 0;
    }
    double *times = xmalloc((size_t)(b.passes + 1) * sizeof(double));
    long images = b.set.count;
    if (strcmp(b.task, "loader") == 0)
        time_loader(&b, times, &images);
    else if (strcmp(b.task, "decode") == 0 || strcmp(b.task, "eval") == 0 || strcmp(b.task, "train") == 0)
        time_in_memory(&b, times);
    else
        bcos_fail("unknown task '%s'", b.task);
    double median = bench_median(times + 1, b.passes);
    printf("bcos %s, %s decoding: %ld images, median of %d passes %.3f s, %.1f img/s (%.1f per core, %d threads)\n",
           b.task, bcos_decode_mode_name(b.mode), images, b.passes, median, images / median, images / median / b.threads,
           b.threads);
    free(times);
    return 0;
}
