/* The public OpenCL entry points (include/qkern/opencl.h). */
#include <string.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/context_internal.h"
#include "kernels/qk_error.h"
#include "qkern/opencl.h"

/* The OpenCL slot of ctx if it is the one the context runs, else NULL. */
static const qk_backend_slot *qk_ocl_slot(const qkern_context *ctx) {
    const qk_backend_slot *s = &ctx->slots[ctx->preferred];
    return (s->b == &qk_backend_opencl && s->available && s->state) ? s : NULL;
}

qkern_status qkern_opencl_context_create(const qkern_context_options *opts, cl_command_queue queue,
                                         qkern_context **ctx) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_context_create: ctx out-pointer is NULL");
    *ctx = NULL;
    if (!queue) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_context_create: queue is NULL");
    qkern_context_options o;
    qkern_context_options_init(&o);
    if (opts) o = *opts;
    o.backend = "opencl";
    /* The backend's open() runs inside qkern_context_create on this thread and takes it. */
    qk_ocl_set_pending_queue(queue);
    qkern_status s = qkern_context_create(&o, ctx);
    qk_ocl_set_pending_queue(NULL);
    if (s != QKERN_OK) return s;
    const qk_backend_slot *slot = qk_ocl_slot(*ctx);
    if (!slot || !((const qk_ocl *)slot->state)->adopted) {
        qkern_context_destroy(*ctx);
        *ctx = NULL;
        return qk_error(QKERN_BACKEND_UNAVAILABLE,
                        "qkern_opencl_context_create: the context did not select the OpenCL backend (QKERN_BACKEND=%s?)",
                        getenv("QKERN_BACKEND") ? getenv("QKERN_BACKEND") : "");
    }
    return QKERN_OK;
}

qkern_status qkern_opencl_context_info(const qkern_context *ctx, cl_context *context, cl_device_id *device,
                                       cl_command_queue *queue) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_context_info: ctx is NULL");
    const qk_backend_slot *slot = qk_ocl_slot(ctx);
    if (!slot) return qk_error(QKERN_BACKEND_UNAVAILABLE, "qkern_opencl_context_info: the context runs backend \"%s\"",
                               qkern_context_backend(ctx));
    const qk_ocl *st = slot->state;
    if (context) *context = st->context;
    if (device) *device = st->device;
    if (queue) *queue = st->queue;
    return QKERN_OK;
}

qkern_status qkern_opencl_matmul(qkern_context *ctx, const qkern_packed_weights *w, cl_command_queue queue, int64_t m,
                                 cl_mem x, size_t x_offset, int64_t ldx, cl_mem y, size_t y_offset, int64_t ldy) {
    qk_error_clear();
    if (!ctx || !w) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: %s is NULL", ctx ? "w" : "ctx");
    if (!x || !y) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: %s is NULL", x ? "y" : "x");
    const qk_backend_slot *slot = qk_ocl_slot(ctx);
    if (!slot) return qk_error(QKERN_BACKEND_UNAVAILABLE, "qkern_opencl_matmul: the context runs backend \"%s\"",
                               qkern_context_backend(ctx));
    qk_ocl *st = slot->state;
    if (w->backend != &qk_backend_opencl || w->backend_state != st)
        return qk_error(QKERN_INVALID_ARGUMENT,
                        "qkern_opencl_matmul: the weights were packed by backend \"%s\"%s, not this context's OpenCL backend",
                        w->backend ? w->backend->name : "?", w->backend == &qk_backend_opencl ? " of another context" : "");
    if (m < 1) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: m=%lld must be >= 1", (long long)m);
    if (ldx < w->k) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: ldx=%lld < K=%lld", (long long)ldx, (long long)w->k);
    if (ldy < w->n) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: ldy=%lld < N=%lld", (long long)ldy, (long long)w->n);
    if (!queue) queue = st->queue;
    cl_context qc = NULL;
    cl_int e = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL);
    if (e != CL_SUCCESS) return qk_ocl_fail(e, "qkern_opencl_matmul: the queue");
    if (qc != st->context)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: the queue belongs to another cl_context than the "
                                                "qkern context's (create it with qkern_opencl_context_create)");
    /* Bounds of the engine's buffers, so a bad stride is an error and not a device fault. */
    size_t xs = 0, ys = 0;
    if ((e = clGetMemObjectInfo(x, CL_MEM_SIZE, sizeof xs, &xs, NULL)) != CL_SUCCESS) return qk_ocl_fail(e, "x buffer");
    if ((e = clGetMemObjectInfo(y, CL_MEM_SIZE, sizeof ys, &ys, NULL)) != CL_SUCCESS) return qk_ocl_fail(e, "y buffer");
    double xneed = (double)x_offset + ((double)(m - 1) * (double)ldx + (double)w->k) * 4.0;
    double yneed = (double)y_offset + ((double)(m - 1) * (double)ldy + (double)w->n) * 4.0;
    if (xneed > (double)xs || yneed > (double)ys)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_opencl_matmul: %s buffer holds %zu bytes, m=%lld rows need %.0f",
                        xneed > (double)xs ? "x" : "y", xneed > (double)xs ? xs : ys, (long long)m,
                        xneed > (double)xs ? xneed : yneed);
    pthread_mutex_lock(&st->lock);
    qkern_status s = qk_ocl_matmul_buffers(st, w, queue, m, x, x_offset, ldx, y, y_offset, ldy, 0, NULL);
    pthread_mutex_unlock(&st->lock);
    return s;
}
