/* The grid pointing game on a classification dataset for a B-cos student (bcos/eval_run.h,
 * docs/METHOD.md): the ranks classify their shards' samples and keep those the student gets right
 * with a positive logit (the confidence); rank 0 gathers them in shard and sample order and chooses
 * the grids' images (bcos/gridpg.h); every rank then reads its share of the grids again from their
 * shards (only that share: a thousand 2x2 grids of 224-pixel crops would take 600 MB on each rank),
 * explains them through sliding windows of the student's input size, each cell's class through its
 * zero-shot classifier row, and the cells' scores are summed over the ranks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/explain.h"
#include "bcos/gridpg.h"
#include "bcos/image.h"
#include "bcos/log.h"
#include "bcos/samples.h"
#include "bcos/world.h"
#include "eval_internal.h"

typedef struct {
    int shard;
    long index;
} sample_place;

typedef struct {
    const bcos_student *student;
    const bcos_eval_dataset *d;
    const bcos_eval_options *opt;
    int S, E, K, n, cells; /* input side, embedding, classes, grid side in cells, cells per grid */
    float *classifier;     /* [K, E] */
    /* rank 0's confidence pass: candidate i was sample places[i] */
    bcos_gridpg_candidate *candidates;
    sample_place *places;
    size_t n_candidates;
    /* the chosen grids: labels[g * cells + k] and chosen[g * cells + k], the place of each cell's image;
     * crops (uint8 [S, S, 3]) of the cells of this rank's grids, rank, rank + size, ..., in that order */
    int n_grids;
    int *labels;
    sample_place *chosen;
    uint8_t *crops;
} gridpg_state;

/* Samples waiting for the image tower in the confidence pass. */
typedef struct {
    float *inputs, *emb, *logits;
    int *labels, n;
    sample_place *places;
    bcos_student_acts *acts;
    bcos_progress progress; /* images, img/s */
} confidence_batch;

static void add_candidate(gridpg_state *st, int label, float confidence, sample_place place) {
    st->candidates = xrealloc(st->candidates, (st->n_candidates + 1) * sizeof *st->candidates);
    st->places = xrealloc(st->places, (st->n_candidates + 1) * sizeof *st->places);
    st->candidates[st->n_candidates] = (bcos_gridpg_candidate){label, confidence, (long)st->n_candidates};
    st->places[st->n_candidates++] = place;
}

/* The batch's samples that the student classifies right, with a positive logit (a sigmoid of it
 * over one half, the reference's confidence threshold), become candidates. */
static void confidence_flush(gridpg_state *st, confidence_batch *b) {
    if (b->n == 0) return;
    bcos_eval_model m = {.student = st->student};
    eval_encode_images(&m, b->acts, st->opt->batch, b->emb, b->inputs, b->n);
    if (bcos_world_rank() == 0) bcos_progress_step(&b->progress, b->n, NULL);
    bcos_zeroshot_logits(b->logits, b->emb, st->classifier, b->n, st->K, st->E);
    for (int i = 0; i < b->n; i++) {
        int top;
        const float *row = b->logits + (size_t)i * st->K;
        bcos_topk(&top, row, st->K, 1);
        if (top == b->labels[i] && row[top] > 0) add_candidate(st, top, row[top], b->places[i]);
    }
    b->n = 0;
}

/* This rank's shards' samples classified (shard i by rank i mod size). 0, or -1 with err. */
static int confidence_pass(gridpg_state *st, bcos_eval_metrics *out, char *err, size_t errlen) {
    bcos_eval_model m = {.student = st->student};
    bcos_image_sample_config cfg = eval_sample_config(&m, st->K);
    size_t floats = bcos_image_sample_bytes(&cfg) / sizeof(float), B = (size_t)st->opt->batch;
    confidence_batch b = {.inputs = xmalloc(B * floats * sizeof(float)),
                          .emb = xmalloc(B * st->E * sizeof(float)),
                          .logits = xmalloc(B * st->K * sizeof(float)),
                          .labels = xmalloc(B * sizeof(int)),
                          .places = xmalloc(B * sizeof(sample_place)),
                          .acts = bcos_student_acts_new(st->student, st->opt->batch)};
    char what[160];
    snprintf(what, sizeof what, "%s gridpg confidence pass, images", st->d->name);
    bcos_progress_start(&b.progress, what, 0);
    int status = 0, rank = bcos_world_rank(), size = bcos_world_size();
    for (int shard = rank; status == 0 && shard < st->d->n_shards; shard += size) {
        const char *url = st->d->shards[shard];
        bcos_data_counters counters = {0};
        bcos_sample_reader *r = bcos_samples_open(url, &st->opt->fetch, &counters);
        bcos_sample s = {0};
        char msg[256];
        int got, label;
        while (status == 0 && (got = bcos_samples_next(r, &s)) == 1) {
            bcos_sample_verdict v = bcos_image_sample(&cfg, &s, b.inputs + b.n * floats, &label, msg, sizeof msg);
            if (v != BCOS_SAMPLE_OK) {
                status = eval_sample_refused(st->opt, out, url, s.key, v, msg, err, errlen);
            } else {
                b.labels[b.n] = label;
                b.places[b.n++] = (sample_place){shard, s.index};
                out->samples++;
                if ((size_t)b.n == B) confidence_flush(st, &b);
            }
            bcos_sample_clear(&s);
        }
        bcos_sample_clear(&s);
        if (status == 0 && got < 0) snprintf(err, errlen, "%s", bcos_samples_error(r)), status = -1;
        bcos_samples_close(r);
    }
    if (status == 0) confidence_flush(st, &b);
    if (status == 0 && rank == 0) bcos_progress_finish(&b.progress, NULL);
    bcos_student_acts_free(b.acts);
    free(b.inputs), free(b.emb), free(b.logits), free(b.labels), free(b.places);
    return status;
}

/* A candidate as the ranks send it to rank 0. */
typedef struct {
    sample_place place;
    int label;
    float confidence;
} found_candidate;

static int places_compare(const sample_place *x, const sample_place *y) {
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int by_found_place(const void *a, const void *b) {
    return places_compare(&((const found_candidate *)a)->place, &((const found_candidate *)b)->place);
}

/* Every rank: the counts summed into out (on all ranks); the candidates gathered on rank 0 in shard
 * and sample order, the list one process makes (the choice of grids depends on that order). */
static void gather_candidates(gridpg_state *st, bcos_eval_metrics *out) {
    int64_t counts[2] = {out->samples, out->skipped};
    bcos_world_sum_i64(counts, 2);
    out->samples = counts[0];
    out->skipped = counts[1];
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    BCOS_CHECK(f != NULL, "open_memstream: out of memory");
    for (size_t i = 0; i < st->n_candidates; i++) /* %a: the confidence exactly */
        fprintf(f, "%d %ld %d %a\n", st->places[i].shard, st->places[i].index, st->candidates[i].label,
                (double)st->candidates[i].confidence);
    BCOS_CHECK(fclose(f) == 0, "open_memstream: out of memory");
    char **texts = bcos_world_gather_text(text ? text : "");
    free(text);
    if (!texts) return; /* not rank 0 */
    found_candidate *found = NULL;
    size_t n = 0;
    for (int r = 0; r < bcos_world_size(); r++) {
        for (char *line = strtok(texts[r], "\n"); line; line = strtok(NULL, "\n")) {
            found_candidate c;
            double confidence;
            BCOS_CHECK(sscanf(line, "%d %ld %d %la", &c.place.shard, &c.place.index, &c.label, &confidence) == 4,
                       "a candidate line as gather_candidates writes it");
            c.confidence = (float)confidence;
            found = xrealloc(found, (n + 1) * sizeof *found);
            found[n++] = c;
        }
        free(texts[r]);
    }
    free(texts);
    if (n > 0) qsort(found, n, sizeof *found, by_found_place); /* qsort takes no NULL, even for none */
    st->n_candidates = 0;
    for (size_t i = 0; i < n; i++) add_candidate(st, found[i].label, found[i].confidence, found[i].place);
    free(found);
}

/* A chosen image: where it is, and the cell whose crop it fills. */
typedef struct {
    sample_place place;
    size_t cell;
} wanted_crop;

static int by_place(const void *a, const void *b) {
    return places_compare(&((const wanted_crop *)a)->place, &((const wanted_crop *)b)->place);
}

/* The crops of want[n] (sorted by place), read again from their shards. 0, or -1 with err. */
static int read_chosen(gridpg_state *st, const wanted_crop *want, size_t n, char *err, size_t errlen) {
    bcos_image_sample_config cfg = {.size = st->S, .kind = BCOS_INPUT_CROP_U8, .benchmark_order = true};
    size_t crop_bytes = (size_t)st->S * st->S * 3, next = 0;
    int status = 0;
    while (status == 0 && next < n) {
        int shard = want[next].place.shard, got = 0, label;
        const char *url = st->d->shards[shard];
        bcos_data_counters counters = {0};
        bcos_sample_reader *r = bcos_samples_open(url, &st->opt->fetch, &counters);
        bcos_sample s = {0};
        char msg[256];
        while (status == 0 && next < n && want[next].place.shard == shard && (got = bcos_samples_next(r, &s)) == 1) {
            if (s.index == want[next].place.index) {
                if (bcos_image_sample(&cfg, &s, st->crops + want[next].cell * crop_bytes, &label, msg, sizeof msg) !=
                    BCOS_SAMPLE_OK) {
                    snprintf(err, errlen, "%s: sample '%s' no longer reads: %s", url, s.key, msg);
                    status = -1;
                }
                next++;
            }
            bcos_sample_clear(&s);
        }
        bcos_sample_clear(&s);
        if (status == 0 && next < n && want[next].place.shard == shard) {
            snprintf(err, errlen, "%s: %s", url, got < 0 ? bcos_samples_error(r) : "fewer samples than before");
            status = -1;
        }
        bcos_samples_close(r);
    }
    return status;
}

/* The classes that have candidates. */
static int classes_with_candidates(const gridpg_state *st) {
    int *seen = xcalloc((size_t)st->K, sizeof *seen), classes = 0;
    for (size_t i = 0; i < st->n_candidates; i++) classes += !seen[st->candidates[i].label]++;
    free(seen);
    return classes;
}

/* Rank 0, after the confidence pass: the choice of grids, their cells' labels and places. 0, or -1 with err. */
static int choose_grids(gridpg_state *st, bcos_eval_metrics *out, char *err, size_t errlen) {
    if (out->skipped > st->opt->max_skip) {
        snprintf(err, errlen, "dataset %s: %ld samples refused, more than --max-skip %ld", st->d->name, out->skipped,
                 st->opt->max_skip);
        return -1;
    }
    long *chosen = xmalloc((size_t)st->opt->gridpg_grids * st->cells * sizeof *chosen);
    st->n_grids = bcos_gridpg_select(chosen, st->opt->gridpg_grids, st->cells, st->candidates, st->n_candidates,
                                     st->K, st->opt->gridpg_seed);
    int status = 0;
    if (st->n_grids == 0) {
        snprintf(err, errlen,
                 "dataset %s: gridpg needs more than %d classes with an image the student classifies right "
                 "(with a positive logit); its %ld images give %d",
                 st->d->name, st->cells, out->samples, classes_with_candidates(st));
        status = -1;
    } else {
        size_t n_cells = (size_t)st->n_grids * st->cells;
        st->labels = xmalloc(n_cells * sizeof *st->labels);
        st->chosen = xmalloc(n_cells * sizeof *st->chosen);
        for (size_t c = 0; c < n_cells; c++) {
            st->chosen[c] = st->places[chosen[c]];
            st->labels[c] = st->candidates[chosen[c]].label;
        }
    }
    free(chosen);
    return status;
}

/* Rank 0's grids (count, labels, places) to every rank. */
static void share_grids(gridpg_state *st) {
    bcos_world_bcast(&st->n_grids, sizeof st->n_grids);
    size_t n_cells = (size_t)st->n_grids * st->cells;
    if (bcos_world_rank() != 0) {
        st->labels = xmalloc(n_cells * sizeof *st->labels);
        st->chosen = xmalloc(n_cells * sizeof *st->chosen);
    }
    bcos_world_bcast(st->labels, n_cells * sizeof *st->labels);
    bcos_world_bcast(st->chosen, n_cells * sizeof *st->chosen);
}

/* The grids this rank explains: rank, rank + size, ... below n_grids. */
static int own_grids(const gridpg_state *st) {
    int rank = bcos_world_rank(), size = bcos_world_size();
    return st->n_grids > rank ? (st->n_grids - rank + size - 1) / size : 0;
}

/* Every rank: the crops of its own grids, in one pass over the shards that hold them. 0, or -1 with err. */
static int read_own_crops(gridpg_state *st, char *err, size_t errlen) {
    size_t n = (size_t)own_grids(st) * st->cells, c = 0;
    wanted_crop *want = xmalloc((n ? n : 1) * sizeof *want);
    for (int grid = bcos_world_rank(); grid < st->n_grids; grid += bcos_world_size())
        for (int k = 0; k < st->cells; k++, c++) want[c] = (wanted_crop){st->chosen[(size_t)grid * st->cells + k], c};
    if (n > 0) qsort(want, n, sizeof *want, by_place);
    st->crops = xmalloc((n ? n : 1) * st->S * st->S * 3);
    int status = read_chosen(st, want, n, err, errlen);
    free(want);
    return status;
}

/* What explaining a grid takes, sized once. */
typedef struct {
    const bcos_student *student;
    bcos_gridpg_windows w;
    int n, cells, S, E, side, n_windows, chunk; /* grid side in pixels; windows per grid; windows per pass */
    float *inputs, *dx6, *dout, *emb, *contribution;
    double *constants;
    bcos_student_acts *acts, *acts_last; /* chunk windows, and the last, shorter chunk (if any) */
} grid_work;

static void work_init(grid_work *g, const bcos_student *s, int n, int batch) {
    memset(g, 0, sizeof *g);
    g->student = s;
    g->n = n;
    g->cells = n * n;
    g->S = s->cfg.image_size;
    g->E = s->cfg.embed_dim;
    g->w = bcos_gridpg_windows_of(n, g->S);
    g->side = n * g->S;
    g->n_windows = g->w.per_side * g->w.per_side;
    g->chunk = batch < g->n_windows ? batch : g->n_windows;
    size_t x6 = (size_t)6 * g->S * g->S;
    g->inputs = xmalloc(g->chunk * x6 * sizeof(float));
    g->dx6 = xmalloc(g->chunk * x6 * sizeof(float));
    g->dout = xmalloc((size_t)g->chunk * g->E * sizeof(float));
    g->emb = xmalloc((size_t)g->chunk * g->E * sizeof(float));
    g->contribution = xmalloc((size_t)g->S * g->S * sizeof(float));
    g->constants = xmalloc((size_t)g->chunk * sizeof(double));
    g->acts = bcos_student_acts_new(s, g->chunk);
    if (g->n_windows % g->chunk) g->acts_last = bcos_student_acts_new(s, g->n_windows % g->chunk);
}

static void work_free(grid_work *g) {
    free(g->inputs), free(g->dx6), free(g->dout), free(g->emb), free(g->contribution), free(g->constants);
    bcos_student_acts_free(g->acts);
    if (g->acts_last) bcos_student_acts_free(g->acts_last);
}

/* Windows first..first+count-1 of grid6 through the student, then each cell's class row explained
 * on every one of them and the contributions summed into that cell's map. */
static void explain_windows(grid_work *g, const float *grid6, const float *const *rows, float *maps, int first,
                            int count) {
    const bcos_student *s = g->student;
    size_t x6 = (size_t)6 * g->S * g->S, plane = (size_t)g->side * g->side;
    for (int i = 0; i < count; i++)
        bcos_gridpg_window_cut(g->inputs + i * x6, grid6, g->side, &g->w, (first + i) / g->w.per_side,
                               (first + i) % g->w.per_side);
    bcos_student_acts *acts = count == g->chunk ? g->acts : g->acts_last;
    bcos_student_forward(s, acts, g->emb, g->inputs, s->saved_b, s->saved_bias_scale);
    for (int k = 0; k < g->cells; k++) {
        for (int i = 0; i < count; i++) memcpy(g->dout + (size_t)i * g->E, rows[k], g->E * sizeof(float));
        bcos_student_explain(s, acts, g->dx6, g->constants, g->dout);
        for (int i = 0; i < count; i++) {
            bcos_explain_contribution(g->contribution, g->inputs + i * x6, g->dx6 + i * x6, g->S, g->S);
            bcos_gridpg_window_add(maps + k * plane, g->side, &g->w, (first + i) / g->w.per_side,
                                   (first + i) % g->w.per_side, g->contribution);
        }
    }
}

static void grid_maps(grid_work *g, const float *grid6, const float *const *rows, float *maps) {
    memset(maps, 0, (size_t)g->cells * g->side * g->side * sizeof(float));
    for (int first = 0; first < g->n_windows; first += g->chunk)
        explain_windows(g, grid6, rows, maps, first, g->n_windows - first < g->chunk ? g->n_windows - first : g->chunk);
}

void bcos_eval_gridpg_maps(const bcos_student *s, const float *grid6, int n, const float *const *rows, int batch,
                           float *maps) {
    grid_work g;
    work_init(&g, s, n, batch);
    grid_maps(&g, grid6, rows, maps);
    work_free(&g);
}

/* scores[k] for the cells of grid `grid`, this rank's `mine`-th; grid6, cells6 and maps are scratch of the
 * grid's sizes. */
static void score_grid(const gridpg_state *st, grid_work *g, int grid, int mine, float *grid6, float *cells6,
                       float *maps, double *scores) {
    size_t x6 = (size_t)6 * st->S * st->S, plane = (size_t)g->side * g->side, crop = (size_t)st->S * st->S * 3;
    const float **cells = xmalloc((size_t)st->cells * sizeof *cells);
    const float **rows = xmalloc((size_t)st->cells * sizeof *rows);
    for (int k = 0; k < st->cells; k++) {
        size_t cell = (size_t)grid * st->cells + k;
        bcos_x6_from_crop(cells6 + k * x6, st->crops + ((size_t)mine * st->cells + k) * crop, st->S);
        cells[k] = cells6 + k * x6;
        rows[k] = st->classifier + (size_t)st->labels[cell] * st->E;
    }
    bcos_gridpg_assemble(grid6, cells, st->n, st->S);
    grid_maps(g, grid6, rows, maps);
    for (int k = 0; k < st->cells; k++)
        scores[k] = bcos_gridpg_score(maps + k * plane, st->n, st->S, k, st->opt->gridpg_smooth);
    free(cells);
    free(rows);
}

/* Every rank: grids rank, rank + size, ... scored; the scores summed over the ranks. */
static double *score_grids(const gridpg_state *st) {
    size_t n_cells = (size_t)st->n_grids * st->cells;
    double *scores = xcalloc(n_cells, sizeof *scores);
    grid_work g;
    work_init(&g, st->student, st->n, st->opt->batch);
    size_t plane = (size_t)g.side * g.side;
    float *grid6 = xmalloc(6 * plane * sizeof(float)), *maps = xmalloc(st->cells * plane * sizeof(float));
    float *cells6 = xmalloc((size_t)st->cells * 6 * st->S * st->S * sizeof(float));
    bcos_progress progress;
    char what[160];
    snprintf(what, sizeof what, "%s gridpg grids", st->d->name);
    if (bcos_world_rank() == 0) bcos_progress_start(&progress, what, st->n_grids);
    for (int grid = bcos_world_rank(), mine = 0; grid < st->n_grids; grid += bcos_world_size(), mine++) {
        score_grid(st, &g, grid, mine, grid6, cells6, maps, scores + (size_t)grid * st->cells);
        int this_round = st->n_grids - grid < bcos_world_size() ? st->n_grids - grid : bcos_world_size();
        if (bcos_world_rank() == 0) bcos_progress_step(&progress, this_round, NULL); /* the ranks keep pace */
    }
    if (bcos_world_rank() == 0) bcos_progress_finish(&progress, NULL);
    work_free(&g);
    free(grid6), free(maps), free(cells6);
    bcos_world_sum_f64(scores, n_cells);
    return scores;
}

static void finish_metrics(const gridpg_state *st, const double *scores, bcos_eval_metrics *out) {
    static const char *const names[] = {"gridpg_mean", "gridpg_q1", "gridpg_median", "gridpg_q3"};
    double summary[4];
    bcos_gridpg_summary(summary, scores, (size_t)st->n_grids * st->cells);
    out->task = "gridpg";
    out->n_metrics = 4;
    for (int i = 0; i < 4; i++) out->names[i] = names[i], out->values[i] = summary[i];
    out->samples = (long)st->n_grids * st->cells;
}

int bcos_eval_gridpg(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                     const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (!m->student) {
        snprintf(err, errlen, "gridpg explains a B-cos student; a plain CLIP has no explanation to score");
        return -1;
    }
    if (strcmp(d->type, "classification") != 0) {
        snprintf(err, errlen, "dataset %s: gridpg needs a classification dataset, not %s", d->name, d->type);
        return -1;
    }
    const bcos_student *s = m->student;
    gridpg_state st = {.student = s, .d = d, .opt = opt, .S = s->cfg.image_size, .E = s->cfg.embed_dim,
                       .K = d->n_classes, .n = opt->gridpg_size, .cells = opt->gridpg_size * opt->gridpg_size};
    st.classifier = xmalloc((size_t)st.K * st.E * sizeof(float));
    int rank = bcos_world_rank();
    int status = eval_classifier(st.classifier, m->clip, tok, d, opt->classifier_cache, rank == 0, err, errlen);
    if (status == 0) status = confidence_pass(&st, out, err, errlen);
    status = eval_any_failed(status != 0, err, errlen) ? -1 : 0;
    if (status == 0) gather_candidates(&st, out);
    if (status == 0 && rank == 0) status = choose_grids(&st, out, err, errlen);
    status = eval_any_failed(status != 0, err, errlen) ? -1 : 0;
    if (status == 0) {
        share_grids(&st);
        status = eval_any_failed(read_own_crops(&st, err, errlen) != 0, err, errlen) ? -1 : 0;
    }
    if (status == 0) {
        long samples = out->samples, skipped = out->skipped;
        double *scores = score_grids(&st);
        finish_metrics(&st, scores, out);
        out->skipped = skipped;
        if (rank == 0)
            bcos_info("dataset %s: gridpg over %d grids of %dx%d from %ld images", d->name, st.n_grids, st.n, st.n,
                      samples);
        free(scores);
    }
    free(st.classifier), free(st.candidates), free(st.places), free(st.labels), free(st.chosen), free(st.crops);
    return status;
}
