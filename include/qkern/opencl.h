/* qkern — the OpenCL entry points: run on an engine's own cl_mem buffers and command queue.
 *
 * Not included by qkern/qkern.h (it pulls in <CL/cl.h>). Two ways to share a device:
 *  - qkern_opencl_context_create: qkern adopts the engine's queue (and so its cl_context
 *    and device); every buffer the engine owns can then be passed to qkern_opencl_matmul;
 *  - qkern_opencl_context_info: the engine allocates its buffers in qkern's cl_context.
 * The host-pointer API (qkern_matmul, qkern_quantize, …) works on the same context too. */
#ifndef QKERN_OPENCL_H
#define QKERN_OPENCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "qkern/qkern.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context whose OpenCL backend uses the engine's in-order queue (retained, released by
 * qkern_context_destroy). opts may be NULL; opts->backend is ignored (always "opencl").
 * QKERN_BACKEND_UNAVAILABLE if the OpenCL backend is not built or QKERN_BACKEND forces another. */
QKERN_API qkern_status qkern_opencl_context_create(const qkern_context_options *opts, cl_command_queue queue,
                                                   qkern_context **ctx);

/* qkern's own OpenCL objects (not retained for the caller). Any out-pointer may be NULL.
 * QKERN_BACKEND_UNAVAILABLE if ctx does not run the OpenCL backend. */
QKERN_API qkern_status qkern_opencl_context_info(const qkern_context *ctx, cl_context *context, cl_device_id *device,
                                                 cl_command_queue *queue);

/* Y = X·Wᵀ + bias on device buffers, enqueued on queue (which must belong to the context's
 * cl_context; NULL = the context's queue). x: m rows of K floats with row stride ldx
 * elements, starting x_offset bytes into x; y likewise (ldy ≥ N). w must have been packed
 * on this context's OpenCL backend (qkern_packed_weights_info says "opencl"). Returns once
 * the work is enqueued; it is complete when the queue has finished (clFinish or an event
 * the engine enqueues after it). */
QKERN_API qkern_status qkern_opencl_matmul(qkern_context *ctx, const qkern_packed_weights *w, cl_command_queue queue,
                                           int64_t m, cl_mem x, size_t x_offset, int64_t ldx, cl_mem y,
                                           size_t y_offset, int64_t ldy);

#ifdef __cplusplus
}
#endif
#endif
