/* Internal: the context as the front ends see it. */
#ifndef QK_CONTEXT_INTERNAL_H
#define QK_CONTEXT_INTERNAL_H

#include "kernels/backend.h"
#include "kernels/threadpool.h"
#include "qkern/context.h"

#define QK_MAX_BACKENDS 4

typedef struct qk_backend_slot {
    const qk_backend *b;
    void *state;
    int available;
    char why[192];       /* why unavailable */
} qk_backend_slot;

struct qkern_context {
    uint64_t cpu;        /* features after QKERN_DISABLE */
    int threads;
    qk_pool *pool;
    qkern_parallel_for_fn parallel_for;
    void *parallel_for_user;
    qk_backend_slot slots[QK_MAX_BACKENDS];
    int n_slots;
    int preferred;       /* slot index of the chosen backend */
    int scalar;          /* slot index of scalar */
    char disable_unknown[32];
};

/* The slot that runs op on desc/act: the preferred backend if it has the kernel, else scalar. */
const qk_backend_slot *qk_select(const qkern_context *ctx, qk_op op, const qkern_quant_desc *desc,
                                 qkern_act_mode act);
/* fn(arg, i) for i in [0, n) on the context's pool / the engine's parallel-for. */
void qk_parallel_for(const qkern_context *ctx, qkern_task_fn fn, void *arg, int64_t n);

#endif
