/* What a run will hold in memory, estimated before its buffers are allocated: the teacher, the
 * student with its gradients and Adam's two moments, the student's activations and the teacher's
 * working memory for one batch, the batch buffers, and the loader's (or the in-memory images).
 * Logged at the start; a run that cannot fit in the memory the process may use is refused. */
#include <stdio.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/memory.h"
#include "distill_internal.h"
#include "distill_source_internal.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

int distill_memory_check(const distill_run *run, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double f = sizeof(float), B = run->B, plane = (double)run->S * run->S, E = run->E;
    double models = (double)run->teacher.params.total * f + 4.0 * (double)run->student.params.total * f;
    double acts = (double)bcos_student_acts_floats(&run->student, run->B) * f;
    double teacher_work = (double)bcos_clip_encode_image_floats(&run->teacher.cfg, run->B) * f;
    /* x6 (6 planes) and the normalised input (3) as floats, the 8-bit crops, 4 embeddings a slot */
    double batch = B * (9 * plane * f + 3 * plane + 4 * E * f) + (double)run->B_global * E * f;
    double data;
    if (c->shards[0]) {
        distill_sample_config sample = {.image = {.size = run->S}, .context_length = run->teacher.cfg.context_length};
        double per_worker = ((double)c->ready_batches + 1) * B + (double)c->shuffle;
        data = (double)c->workers * per_worker * (double)distill_sample_bytes(&sample);
    } else {
        data = (double)run->set->count * (3 * plane + E * f); /* loaded already: crops and caption embeddings */
    }
    double total = models + acts + teacher_work + batch + data;
    const char *what;
    double limit = bcos_memory_limit(&what);
    char parts[256];
    snprintf(parts, sizeof parts,
             "student activations %.2f, teacher working memory %.2f, weights and Adam %.2f, batch %.2f, %s %.2f",
             acts / GIB, teacher_work / GIB, models / GIB, batch / GIB, c->shards[0] ? "loader" : "images",
             data / GIB);
    if (limit > 0 && total > limit)
        return bcos_error(err, errlen, "batch_size",
                          "%d images per step need about %.1f GiB (%s), more than the %.1f GiB of %s: use a smaller "
                          "batch_size%s",
                          c->batch_size, total / GIB, parts, limit / GIB, what,
                          c->shards[0] ? ", shuffle, ready_batches or workers" : "");
    bcos_info("distill: memory estimate %.2f GiB of %.1f GiB (%s; GiB: %s)", total / GIB, limit / GIB, what, parts);
    return 0;
}
