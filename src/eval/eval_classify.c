/* Zero-shot classification of a CLIP_benchmark dataset (bcos/eval_run.h): its shards read in order,
 * each sample through the loader's image sample function (RGB first, then open_clip's evaluation
 * crop), batches through the image tower, logits 100 * cos against the templates x classes
 * classifier, and the metrics as CLIP_benchmark's zeroshot_classification computes them: top-1
 * and top-5 accuracy over all samples, and sklearn's balanced accuracy (the mean recall of the
 * classes present among the labels) for mean_per_class_recall. Under several ranks, shard i is read
 * by rank i mod size, and the counts and prediction lines are gathered: the metrics and the
 * predictions file (in shard and sample order) are the same as one process gives. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/loader.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "bcos/samples.h"
#include "bcos/world.h"
#include "eval_internal.h"

#define TOP 5

/* A batch of samples waiting for the image tower, and the counts so far. */
typedef struct {
    const bcos_eval_model *model;
    const bcos_eval_dataset *dataset;
    const bcos_eval_options *opt;
    bcos_image_sample_config sample;
    size_t sample_floats;
    int E, K, n;
    float *inputs, *emb, *logits, *classifier;
    bcos_student_acts *acts;
    int *labels;
    char **keys;
    bcos_sample_origin *origins;
    FILE *lines; /* this rank's prediction lines, "shard index line", gathered at the end */
    char *lines_text;
    size_t lines_len;
    long correct1, correct5;
    bcos_progress progress; /* rank 0: images, img/s, and the ETA from the share of its shards done */
    int shards_done, shards_mine;
    char progress_what[160];
    long *class_total, *class_correct;
} classify_state;

void eval_encode_images(const bcos_eval_model *m, bcos_student_acts *acts, int acts_batch, float *emb,
                        const float *inputs, int n) {
    if (m->student) {
        /* the activations are sized by batch: the dataset's short last batch gets its own */
        const bcos_student *s = m->student;
        bcos_student_acts *use = n == acts_batch ? acts : bcos_student_acts_new(s, n);
        bcos_student_forward(s, use, emb, inputs, s->saved_b, s->saved_bias_scale);
        if (use != acts) bcos_student_acts_free(use);
    } else {
        bcos_clip_encode_image(m->clip, emb, inputs, n);
    }
}

void eval_progress_images(bcos_progress *p, int n, int shards_done, int shards_mine) {
    /* the count of images is unknown: the ETA comes from the share of the shards done */
    char extra[64];
    snprintf(extra, sizeof extra, "(shard %d/%d)", shards_done + 1, shards_mine);
    if (shards_done > 0) bcos_progress_set_fraction(p, (double)shards_done / shards_mine);
    bcos_progress_step(p, n, extra);
}

bcos_image_sample_config eval_sample_config(const bcos_eval_model *m, int n_classes) {
    return (bcos_image_sample_config){.size = m->student ? m->student->cfg.image_size : m->clip->cfg.image_size,
                                      .kind = m->student ? BCOS_INPUT_BCOS6 : BCOS_INPUT_CLIP,
                                      .need_label = n_classes > 0,
                                      .benchmark_order = true,
                                      .n_classes = n_classes};
}

static void write_prediction(classify_state *st, int i, const int *top, int n_top) {
    FILE *f = st->lines;
    fprintf(f, "%d %ld %s,%s,%d", st->origins[i].shard, st->origins[i].index, st->dataset->name, st->keys[i],
            st->labels[i]);
    for (int j = 0; j < n_top; j++) fprintf(f, ",%d", top[j]);
    fputc('\n', f);
}

/* Embeds and classifies the batch, counting its hits. */
static void classify_batch(classify_state *st) {
    if (st->n == 0) return;
    eval_encode_images(st->model, st->acts, st->opt->batch, st->emb, st->inputs, st->n);
    if (bcos_world_rank() == 0) eval_progress_images(&st->progress, st->n, st->shards_done, st->shards_mine);
    bcos_zeroshot_logits(st->logits, st->emb, st->classifier, st->n, st->K, st->E);
    int n_top = st->K < TOP ? st->K : TOP, top[TOP];
    for (int i = 0; i < st->n; i++) {
        bcos_topk(top, st->logits + (size_t)i * st->K, st->K, n_top);
        int label = st->labels[i], hit5 = 0;
        for (int j = 0; j < n_top; j++) hit5 |= top[j] == label;
        st->correct1 += top[0] == label;
        st->correct5 += hit5;
        st->class_total[label]++;
        st->class_correct[label] += top[0] == label;
        write_prediction(st, i, top, n_top);
        free(st->keys[i]);
    }
    st->n = 0;
}

/* Reads one shard's samples into batches. 0, or -1 with err (shard failed, or too many refused). */
static int classify_shard(classify_state *st, int shard, bcos_eval_metrics *out, char *err, size_t errlen) {
    const char *url = st->dataset->shards[shard];
    bcos_data_counters counters = {0};
    bcos_sample_reader *r = bcos_samples_open(url, &st->opt->fetch, &counters);
    bcos_sample s = {0};
    char msg[256];
    int got, status = 0;
    while ((got = bcos_samples_next(r, &s)) == 1) {
        int label;
        float *slot = st->inputs + (size_t)st->n * st->sample_floats;
        bcos_sample_verdict v = bcos_image_sample(&st->sample, &s, slot, &label, msg, sizeof msg);
        if (v != BCOS_SAMPLE_OK) {
            status = eval_sample_refused(st->opt, out, url, s.key, v, msg, err, errlen);
            if (status != 0) break;
        } else {
            st->labels[st->n] = label;
            st->origins[st->n] = (bcos_sample_origin){shard, s.index};
            st->keys[st->n++] = xstrdup(s.key);
            out->samples++;
            if (st->n == st->opt->batch) classify_batch(st);
        }
        bcos_sample_clear(&s);
    }
    bcos_sample_clear(&s);
    if (got < 0) {
        snprintf(err, errlen, "%s", bcos_samples_error(r));
        status = -1;
    }
    bcos_samples_close(r);
    return status;
}

static void state_init(classify_state *st, const bcos_eval_model *m, const bcos_eval_dataset *d,
                       const bcos_eval_options *opt) {
    memset(st, 0, sizeof *st);
    st->model = m;
    st->dataset = d;
    st->opt = opt;
    st->E = m->student ? m->student->cfg.embed_dim : m->clip->cfg.embed_dim;
    st->K = d->n_classes;
    st->sample = eval_sample_config(m, d->n_classes);
    st->sample_floats = bcos_image_sample_bytes(&st->sample) / sizeof(float);
    size_t B = (size_t)opt->batch;
    st->inputs = xmalloc(B * st->sample_floats * sizeof(float));
    st->emb = xmalloc(B * st->E * sizeof(float));
    st->logits = xmalloc(B * st->K * sizeof(float));
    st->classifier = xmalloc((size_t)st->K * st->E * sizeof(float));
    st->labels = xmalloc(B * sizeof(int));
    st->keys = xcalloc(B, sizeof(char *));
    st->origins = xmalloc(B * sizeof(bcos_sample_origin));
    st->lines = open_memstream(&st->lines_text, &st->lines_len);
    BCOS_CHECK(st->lines != NULL, "open_memstream: out of memory");
    st->class_total = xcalloc((size_t)st->K, sizeof(long));
    st->class_correct = xcalloc((size_t)st->K, sizeof(long));
    if (m->student) st->acts = bcos_student_acts_new(m->student, opt->batch);
}

static void state_free(classify_state *st) {
    for (int i = 0; i < st->n; i++) free(st->keys[i]);
    if (st->acts) bcos_student_acts_free(st->acts);
    free(st->inputs);
    free(st->emb);
    free(st->logits);
    free(st->classifier);
    free(st->labels);
    free(st->keys);
    free(st->origins);
    if (st->lines) fclose(st->lines);
    free(st->lines_text);
    free(st->class_total);
    free(st->class_correct);
}

/* The counts every rank adds up: [samples, skipped, correct1, correct5, K totals, K hits]. */
enum { C_SAMPLES, C_SKIPPED, C_CORRECT1, C_CORRECT5, C_CLASSES };

static int64_t *sum_counts(const classify_state *st, const bcos_eval_metrics *out) {
    int64_t *c = xcalloc(C_CLASSES + 2 * (size_t)st->K, sizeof *c);
    c[C_SAMPLES] = out->samples;
    c[C_SKIPPED] = out->skipped;
    c[C_CORRECT1] = st->correct1;
    c[C_CORRECT5] = st->correct5;
    for (int k = 0; k < st->K; k++) {
        c[C_CLASSES + k] = st->class_total[k];
        c[C_CLASSES + st->K + k] = st->class_correct[k];
    }
    bcos_world_sum_i64(c, C_CLASSES + 2 * (size_t)st->K);
    return c;
}

/* acc1, acc5 and the mean recall of the classes that have samples, from the summed counts. */
static void finish_metrics(const classify_state *st, const int64_t *c, bcos_eval_metrics *out) {
    double n = (double)c[C_SAMPLES], recall_sum = 0;
    int present = 0;
    for (int k = 0; k < st->K; k++)
        if (c[C_CLASSES + k] > 0) {
            recall_sum += (double)c[C_CLASSES + st->K + k] / (double)c[C_CLASSES + k];
            present++;
        }
    out->samples = c[C_SAMPLES];
    out->skipped = c[C_SKIPPED];
    out->task = "zeroshot_classification";
    out->n_metrics = 3;
    const char *names[] = {"acc1", "acc5", "mean_per_class_recall"};
    double values[] = {(double)c[C_CORRECT1] / n, st->K >= TOP ? (double)c[C_CORRECT5] / n : NAN,
                       recall_sum / present};
    for (int i = 0; i < 3; i++) out->names[i] = names[i], out->values[i] = values[i];
}

typedef struct {
    int shard;
    long index;
    const char *text;
} prediction_line;

static int by_origin(const void *a, const void *b) {
    const prediction_line *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Rank 0 writes every rank's prediction lines to the file (if there is one), in shard and sample order. */
static void write_predictions(classify_state *st) {
    BCOS_CHECK(fflush(st->lines) == 0, "open_memstream: out of memory");
    char **texts = bcos_world_gather_text(st->lines_text ? st->lines_text : "");
    if (!texts) return; /* not rank 0 */
    FILE *f = st->opt->predictions;
    prediction_line *lines = NULL;
    size_t n = 0;
    for (int r = 0; r < bcos_world_size(); r++)
        for (char *line = strtok(texts[r], "\n"); line; line = strtok(NULL, "\n")) {
            lines = xrealloc(lines, (n + 1) * sizeof *lines);
            int used = 0;
            BCOS_CHECK(sscanf(line, "%d %ld %n", &lines[n].shard, &lines[n].index, &used) == 2 && used > 0,
                       "a prediction line as write_prediction makes it");
            lines[n++].text = line + used;
        }
    qsort(lines, n, sizeof *lines, by_origin);
    for (size_t i = 0; f && i < n; i++) fprintf(f, "%s\n", lines[i].text);
    free(lines);
    for (int r = 0; r < bcos_world_size(); r++) free(texts[r]);
    free(texts);
}

int eval_sample_refused(const bcos_eval_options *opt, bcos_eval_metrics *out, const char *url, const char *key,
                        bcos_sample_verdict v, const char *msg, char *err, size_t errlen) {
    if (++out->skipped <= opt->max_skip) return 0;
    snprintf(err, errlen, "%s: sample '%s' refused (%s: %s), more than --max-skip %ld", url, key,
             bcos_sample_verdict_name(v), msg, opt->max_skip);
    return -1;
}

int eval_any_failed(int failed, char *err, size_t errlen) {
    char **errors = bcos_world_gather_text(failed ? err : "");
    if (errors) {
        for (int r = bcos_world_size() - 1; r >= 0; r--) {
            if (errors[r][0]) snprintf(err, errlen, "%s", errors[r]);
            free(errors[r]);
        }
        free(errors);
    }
    int64_t any = failed != 0;
    bcos_world_sum_i64(&any, 1);
    return any > 0;
}

int bcos_eval_classification(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                             const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    classify_state st;
    state_init(&st, m, d, opt);
    int rank = bcos_world_rank(), size = bcos_world_size();
    int status = eval_classifier(st.classifier, m->clip, tok, d, opt->classifier_cache, rank == 0, err, errlen);
    st.shards_mine = (d->n_shards - rank + size - 1) / size;
    snprintf(st.progress_what, sizeof st.progress_what, "%s: images", d->name);
    bcos_progress_start(&st.progress, st.progress_what, 0);
    for (int i = rank; status == 0 && i < d->n_shards; i += size, st.shards_done++)
        status = classify_shard(&st, i, out, err, errlen);
    if (status == 0) classify_batch(&st);
    status = eval_any_failed(status != 0, err, errlen) ? -1 : 0;
    int64_t *c = sum_counts(&st, out);
    if (status == 0 && c[C_SKIPPED] > opt->max_skip) {
        snprintf(err, errlen, "dataset %s: %lld samples refused, more than --max-skip %ld", d->name,
                 (long long)c[C_SKIPPED], opt->max_skip);
        status = -1;
    }
    if (status == 0 && c[C_SAMPLES] == 0) {
        snprintf(err, errlen, "dataset %s: no samples in its %d shards", d->name, d->n_shards);
        status = -1;
    }
    if (status == 0) finish_metrics(&st, c, out);
    if (status == 0 && rank == 0) bcos_progress_finish(&st.progress, NULL);
    if (status == 0) write_predictions(&st); /* a collective: every rank, whoever writes */
    free(c);
    state_free(&st);
    return status;
}
