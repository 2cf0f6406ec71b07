/* Loops of the CPU kernels spread over threads: the elementwise kernels, the softmax rows and the
 * im2col run on as many threads as OpenBLAS uses for its GEMMs, so that its threads do not wait idle
 * while a single thread walks the data between two GEMMs. A range never calls a GEMM: OpenBLAS called
 * from several threads at once queues them for its workers, which spin. */
#ifndef BCOS_CPU_PARALLEL_H
#define BCOS_CPU_PARALLEL_H

#include <stddef.h>

/* Does items [begin, end) of a loop; ctx holds the loop's data. */
typedef void (*cpu_range_fn)(void *ctx, size_t begin, size_t end);

/* Runs fn over [0, n) split into one contiguous range per thread, in the calling thread and the
 * pool's, and returns when all are done. Each item is done by exactly one call, so a loop whose
 * items are independent computes the same numbers as one thread. Loops of fewer than 2 * grain items,
 * calls from inside a range, and calls while another thread runs the pool run in the caller alone. */
void cpu_parallel_for(size_t n, size_t grain, cpu_range_fn fn, void *ctx);
/* The same for items that each call GEMMs (the images of a convolution): OpenBLAS runs single-threaded
 * meanwhile, each thread's GEMMs on its own core, and gets its threads back after. Fewer items than
 * threads run in the caller instead, their GEMMs on OpenBLAS's threads, so that no core idles. A GEMM
 * computes each element alike on one thread or several: the numbers are the same either way. */
void cpu_parallel_for_gemms(size_t n, cpu_range_fn fn, void *ctx);

#endif
