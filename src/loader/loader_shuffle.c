/* A loader worker's shuffle buffer: samples kept in read order with their payloads in fixed slots;
 * each emission takes the oldest once it has outlived the window, else a uniformly drawn one. Keeping
 * the order costs a move of the entries behind the emitted one (small records, cheap beside the
 * decode each sample took). */
#include "loader_impl.h"

#include "bcos/check.h"

#include <stdlib.h>
#include <string.h>

void shuffle_init(shuffle_buffer *b, long capacity, long window, size_t sample_bytes, const bcos_rng *rng) {
    memset(b, 0, sizeof *b);
    b->capacity = capacity;
    b->window = window;
    b->sample_bytes = sample_bytes;
    b->rng = *rng;
    if (capacity == 0) return;
    b->payloads = xmalloc((size_t)capacity * sample_bytes);
    b->entries = xmalloc((size_t)capacity * sizeof *b->entries);
    b->free_slots = xmalloc((size_t)capacity * sizeof *b->free_slots);
    for (long i = 0; i < capacity; i++) b->free_slots[b->n_free++] = capacity - 1 - i;
}

void shuffle_free(shuffle_buffer *b) {
    free(b->payloads);
    free(b->entries);
    free(b->free_slots);
    memset(b, 0, sizeof *b);
}

void *shuffle_payload(const shuffle_buffer *b) {
    BCOS_CHECK(b->n_free > 0, "a shuffle buffer was filled beyond its capacity");
    return b->payloads + (size_t)b->free_slots[b->n_free - 1] * b->sample_bytes;
}

void shuffle_add(shuffle_buffer *b, bcos_stream_pos pos, long read, int label, bcos_sample_origin origin) {
    long slot = b->free_slots[--b->n_free];
    b->entries[b->n++] = (shuffle_entry){pos, read, label, origin, slot};
}

void shuffle_emit(shuffle_buffer *b, long reads, void *out, int *label, bcos_sample_origin *origin) {
    BCOS_CHECK(b->n > 0, "a turn asked an empty shuffle buffer for a sample");
    long pick = reads - b->entries[0].read >= b->window ? 0 : (long)bcos_rng_below(&b->rng, (uint64_t)b->n);
    shuffle_entry e = b->entries[pick];
    memcpy(out, b->payloads + (size_t)e.slot * b->sample_bytes, b->sample_bytes);
    *label = e.label;
    *origin = e.origin;
    memmove(&b->entries[pick], &b->entries[pick + 1], (size_t)(b->n - pick - 1) * sizeof *b->entries);
    b->n--;
    b->free_slots[b->n_free++] = e.slot;
}

void shuffle_save(const shuffle_buffer *b, bcos_worker_cursor *c) {
    c->rng = b->rng;
    c->n_held = b->n;
    for (long i = 0; i < b->n; i++) c->held[i] = b->entries[i].pos;
}
