/* Zero-shot retrieval of a CLIP_benchmark captioned dataset (bcos/eval_run.h): every image through
 * the image tower and every caption of its .txt (one per line) through the text tower, both
 * L2-normalised; then, as CLIP_benchmark's zeroshot_retrieval, image_retrieval_recall@k is the share
 * of captions whose image is among the k images of highest cosine with it, and
 * text_retrieval_recall@k the share of images with one of their captions among the k captions of
 * highest cosine. Under several ranks, shard i is read by rank i mod size and the embeddings are
 * summed into one table that every rank holds (the others add zeros), so the recalls are those of
 * one process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/progress.h"
#include "bcos/samples.h"
#include "bcos/world.h"
#include "eval_internal.h"

static const int RECALL_K[] = {1, 5, 10};
#define N_K 3
#define TEXT_BATCH 64

typedef struct {
    const bcos_eval_model *m;
    const bcos_tokenizer *tok;
    const bcos_eval_options *opt;
    bcos_image_sample_config sample;
    size_t sample_floats;
    int E, n; /* n: images waiting in inputs */
    float *inputs;
    bcos_student_acts *acts;
    float *img;      /* n_img x E */
    long n_img;
    float *txt;      /* n_txt x E */
    int64_t *txt_img; /* each caption's image, local index */
    long n_txt;
    char **captions; /* waiting for the text tower */
    int n_captions;
    bcos_progress progress; /* rank 0: images, img/s, and the ETA from the share of its shards done */
    int shards_done, shards_mine;
    char progress_what[160];
} retrieval_state;

static void encode_images(retrieval_state *st) {
    if (st->n == 0) return;
    st->img = xrealloc(st->img, (size_t)(st->n_img + st->n) * st->E * sizeof(float));
    float *emb = st->img + (size_t)st->n_img * st->E;
    eval_encode_images(st->m, st->acts, st->opt->batch, emb, st->inputs, st->n);
    bcos_l2_normalize_rows(emb, st->n, st->E);
    st->n_img += st->n;
    if (bcos_world_rank() == 0) eval_progress_images(&st->progress, st->n, st->shards_done, st->shards_mine);
    st->n = 0;
}

static void encode_captions(retrieval_state *st) {
    if (st->n_captions == 0) return;
    int L = st->m->clip->cfg.context_length;
    int32_t *ids = xmalloc((size_t)st->n_captions * L * sizeof(int32_t));
    for (int i = 0; i < st->n_captions; i++) {
        bcos_tokenize(st->tok, st->captions[i], L, ids + (size_t)i * L);
        free(st->captions[i]);
    }
    float *emb = st->txt + (size_t)(st->n_txt - st->n_captions) * st->E;
    bcos_clip_encode_text(st->m->clip, emb, ids, st->n_captions);
    bcos_l2_normalize_rows(emb, st->n_captions, st->E);
    free(ids);
    st->n_captions = 0;
}

/* The captions of the sample's .txt (Python's splitlines) for the image about to be read. */
static void add_captions(retrieval_state *st, const bcos_sample_member *txt, long image) {
    char *text = xmalloc(txt->size + 1);
    memcpy(text, txt->data, txt->size);
    text[txt->size] = '\0';
    for (char *at = text; *at;) {
        char *end = at + strcspn(at, "\r\n");
        char next = *end;
        *end = '\0';
        st->txt = xrealloc(st->txt, (size_t)(st->n_txt + 1) * st->E * sizeof(float));
        st->txt_img = xrealloc(st->txt_img, (size_t)(st->n_txt + 1) * sizeof *st->txt_img);
        st->txt_img[st->n_txt++] = image;
        st->captions[st->n_captions++] = xstrdup(at);
        if (st->n_captions == TEXT_BATCH) encode_captions(st);
        if (!next) break;
        at = end + 1 + (next == '\r' && end[1] == '\n');
    }
    free(text);
}

static int read_shard(retrieval_state *st, const char *url, bcos_eval_metrics *out, char *err, size_t errlen) {
    bcos_data_counters counters = {0};
    bcos_sample_reader *r = bcos_samples_open(url, &st->opt->fetch, &counters);
    bcos_sample s = {0};
    char msg[256];
    int got, status = 0, label;
    while (status == 0 && (got = bcos_samples_next(r, &s)) == 1) {
        const bcos_sample_member *txt = bcos_sample_member_find(&s, "txt");
        float *slot = st->inputs + (size_t)st->n * st->sample_floats;
        bcos_sample_verdict v = txt ? bcos_image_sample(&st->sample, &s, slot, &label, msg, sizeof msg)
                                    : BCOS_SKIP_NO_LABEL;
        if (!txt) snprintf(msg, sizeof msg, "no .txt captions");
        if (v != BCOS_SAMPLE_OK) {
            status = eval_sample_refused(st->opt, out, url, s.key, v, msg, err, errlen);
        } else {
            add_captions(st, txt, st->n_img + st->n);
            if (++st->n == st->opt->batch) encode_images(st);
        }
        bcos_sample_clear(&s);
    }
    bcos_sample_clear(&s);
    if (status == 0 && got < 0) {
        snprintf(err, errlen, "%s", bcos_samples_error(r));
        status = -1;
    }
    bcos_samples_close(r);
    return status;
}

/* Every rank's rows of x (n_mine x width, this rank's) into one table of all ranks' rows, rank by
 * rank, on every rank; *offset: where this rank's rows start. */
static void *gather_rows(const void *x, long n_mine, size_t width, int is_float, long *n_all, long *offset) {
    int size = bcos_world_size(), rank = bcos_world_rank();
    int64_t *counts = xcalloc((size_t)size, sizeof *counts);
    counts[rank] = n_mine;
    bcos_world_sum_i64(counts, (size_t)size);
    *n_all = *offset = 0;
    for (int r = 0; r < size; r++) *offset += r < rank ? counts[r] : 0, *n_all += counts[r];
    free(counts);
    size_t elem = is_float ? sizeof(float) : sizeof(int64_t);
    void *all = xcalloc((size_t)*n_all * width + 1, elem);
    memcpy((char *)all + (size_t)*offset * width * elem, x, (size_t)n_mine * width * elem);
    if (is_float) bcos_world_sum_f32(all, (size_t)*n_all * width);
    else bcos_world_sum_i64(all, (size_t)*n_all * width);
    return all;
}

static double dot(const float *a, const float *b, int E) {
    double s = 0;
    for (int d = 0; d < E; d++) s += (double)a[d] * b[d];
    return s;
}

/* The recalls from all images and captions (each caption's image in txt_img). */
static void recalls(const float *img, long n_img, const float *txt, const int64_t *txt_img, long n_txt, int E,
                    bcos_eval_metrics *out) {
    long image_hits[N_K] = {0}, text_hits[N_K] = {0};
    for (long t = 0; t < n_txt; t++) { /* the rank of each caption's image among all images */
        double own = dot(txt + t * E, img + txt_img[t] * E, E);
        long above = 0;
        for (long j = 0; j < n_img; j++) above += dot(txt + t * E, img + j * E, E) > own;
        for (int k = 0; k < N_K; k++) image_hits[k] += above < RECALL_K[k];
    }
    long *best = xmalloc((size_t)n_img * sizeof *best); /* per image, the best rank of its captions */
    for (long i = 0; i < n_img; i++) best[i] = n_txt;
    for (long t = 0; t < n_txt; t++) {
        long i = txt_img[t], above = 0;
        double own = dot(txt + t * E, img + i * E, E);
        for (long u = 0; u < n_txt; u++) above += dot(txt + u * E, img + i * E, E) > own;
        if (above < best[i]) best[i] = above;
    }
    for (long i = 0; i < n_img; i++)
        for (int k = 0; k < N_K; k++) text_hits[k] += best[i] < RECALL_K[k];
    free(best);
    static const char *const names[2 * N_K] = {"image_retrieval_recall@1", "text_retrieval_recall@1",
                                               "image_retrieval_recall@5", "text_retrieval_recall@5",
                                               "image_retrieval_recall@10", "text_retrieval_recall@10"};
    out->task = "zeroshot_retrieval";
    out->n_metrics = 2 * N_K;
    for (int k = 0; k < N_K; k++) {
        out->names[2 * k] = names[2 * k];
        out->values[2 * k] = (double)image_hits[k] / (double)n_txt;
        out->names[2 * k + 1] = names[2 * k + 1];
        out->values[2 * k + 1] = (double)text_hits[k] / (double)n_img;
    }
}

int bcos_eval_retrieval(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                        const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    retrieval_state st = {.m = m, .tok = tok, .opt = opt, .sample = eval_sample_config(m, 0)};
    st.E = m->student ? m->student->cfg.embed_dim : m->clip->cfg.embed_dim;
    st.sample_floats = bcos_image_sample_bytes(&st.sample) / sizeof(float);
    st.inputs = xmalloc((size_t)opt->batch * st.sample_floats * sizeof(float));
    st.captions = xmalloc(TEXT_BATCH * sizeof(char *));
    if (m->student) st.acts = bcos_student_acts_new(m->student, opt->batch);
    int status = 0, rank = bcos_world_rank(), size = bcos_world_size();
    st.shards_mine = (d->n_shards - rank + size - 1) / size;
    snprintf(st.progress_what, sizeof st.progress_what, "%s: images", d->name);
    bcos_progress_start(&st.progress, st.progress_what, 0);
    for (int i = rank; status == 0 && i < d->n_shards; i += size, st.shards_done++)
        status = read_shard(&st, d->shards[i], out, err, errlen);
    encode_images(&st);
    if (status == 0 && rank == 0) bcos_progress_finish(&st.progress, NULL);
    encode_captions(&st);
    status = eval_any_failed(status != 0, err, errlen) ? -1 : 0;
    int64_t counts[2] = {st.n_img, out->skipped};
    bcos_world_sum_i64(counts, 2);
    if (status == 0 && counts[0] == 0) snprintf(err, errlen, "dataset %s: no samples", d->name), status = -1;
    if (status == 0) {
        long n_img, n_txt, img_off, txt_off;
        float *img = gather_rows(st.img, st.n_img, (size_t)st.E, 1, &n_img, &img_off);
        for (long t = 0; t < st.n_txt; t++) st.txt_img[t] += img_off;
        float *txt = gather_rows(st.txt, st.n_txt, (size_t)st.E, 1, &n_txt, &txt_off);
        int64_t *txt_img = gather_rows(st.txt_img, st.n_txt, 1, 0, &n_txt, &txt_off);
        recalls(img, n_img, txt, txt_img, n_txt, st.E, out);
        out->samples = n_img;
        out->skipped = counts[1];
        free(img);
        free(txt);
        free(txt_img);
    }
    if (st.acts) bcos_student_acts_free(st.acts);
    for (int i = 0; i < st.n_captions; i++) free(st.captions[i]);
    free(st.captions);
    free(st.inputs);
    free(st.img);
    free(st.txt);
    free(st.txt_img);
    return status;
}
