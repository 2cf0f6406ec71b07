/* The "cuda" and "cuda-bf16" backend tables: the ops of include/bcos/backend_ops.h as defined in the
 * files of src/cuda (a missing one does not compile), and the device memory operations of context.cu.
 * The bf16 table's entries wrap each op: the op runs with the GEMMs' operands in bf16. */
#include "cuda_internal.h"

extern "C" const char *bcos_cuda_unavailable(void);
extern "C" void *bcos_cuda_alloc(size_t bytes);
extern "C" void bcos_cuda_release(void *p);
extern "C" void bcos_cuda_upload(void *dst, const void *host_src, size_t bytes);
extern "C" void bcos_cuda_download(void *host_dst, const void *src, size_t bytes);
extern "C" void bcos_cuda_zero(void *p, size_t bytes);
extern "C" void bcos_cuda_sync(void);

namespace bcos_cuda {

/* op with its GEMMs in bf16 for the length of the call. */
template <typename F, F op> struct in_bf16;
template <typename... Args, void (*op)(Args...)> struct in_bf16<void (*)(Args...), op> {
    static void call(Args... args) {
        set_bf16(1);
        op(args...);
        set_bf16(0);
    }
};

static bcos_backend make_table(const char *name, const char *precision) {
    bcos_backend t = {};
    t.name = name;
    t.precision = precision;
    t.unavailable = bcos_cuda_unavailable;
    t.alloc = bcos_cuda_alloc;
    t.release = bcos_cuda_release;
    t.upload = bcos_cuda_upload;
    t.download = bcos_cuda_download;
    t.zero = bcos_cuda_zero;
    t.sync = bcos_cuda_sync;
    return t;
}

static bcos_backend fp32_table() {
    bcos_backend t = make_table("cuda", "fp32");
#define FP32_OP(name, params) t.name = name;
    BCOS_BACKEND_OPS(FP32_OP, float)
#undef FP32_OP
    return t;
}

static bcos_backend bf16_table() {
    bcos_backend t = make_table("cuda-bf16", "bf16");
#define BF16_OP(name, params) t.name = in_bf16<decltype(&name), &name>::call;
    BCOS_BACKEND_OPS(BF16_OP, float)
#undef BF16_OP
    return t;
}

static const bcos_backend g_fp32 = fp32_table(), g_bf16 = bf16_table();

} // namespace bcos_cuda

extern "C" const bcos_backend *bcos_backend_cuda(void) { return &bcos_cuda::g_fp32; }
extern "C" const bcos_backend *bcos_backend_cuda_bf16(void) { return &bcos_cuda::g_bf16; }
