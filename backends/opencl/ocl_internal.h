/* Internal: the OpenCL backend's per-context state, program cache and helpers.
 *
 * One state per qkern context (the backend's open / close): a device, a cl_context
 * and an in-order queue (qkern's own, or adopted from the engine through
 * qkern_opencl_context_create). Programs are built from the embedded .cl sources
 * with tile sizes as -D options and cached in memory and on disk, keyed by
 * (device name, driver version, options, source text). Every enqueue of a context
 * happens under its mutex: cl_kernel argument setting is not thread-safe. */
#ifndef QK_OCL_INTERNAL_H
#define QK_OCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

/* Generated from the backends/opencl .cl files by cmake/embed_cl.cmake; NULL for an unknown name. */
const char *qk_opencl_source(const char *file_name);

typedef struct qk_ocl_prog {
    char *key;                 /* file name + '\n' + options */
    cl_program prog;
    struct qk_ocl_prog *next;
} qk_ocl_prog;

/* A cl_kernel kept for the life of the context (argument setting happens under the lock). */
typedef struct qk_ocl_kern {
    char *key;                 /* program key + '\n' + kernel name */
    cl_kernel kernel;
    struct qk_ocl_kern *next;
} qk_ocl_kern;

/* Device scratch kept across calls on the context's own queue (grow-only), so a GEMV does
 * not pay buffer creation per call. */
enum { QK_OCL_SCR_X, QK_OCL_SCR_Y, QK_OCL_SCR_QX, QK_OCL_SCR_SX, QK_OCL_SCR_SXS, QK_OCL_SCR_MASK, QK_OCL_SCR_IDX,
       QK_OCL_SCR_COUNT };

typedef struct qk_ocl_stats {
    long memory_hits;  /* program found in the in-memory cache */
    long disk_hits;    /* program loaded from a disk-cache binary */
    long builds;       /* program compiled from source */
    long disk_writes;  /* binaries written to the disk cache */
    long disk_rejects; /* disk entries ignored (corrupt, stale, unloadable) */
} qk_ocl_stats;

typedef struct qk_ocl {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int adopted;               /* context / queue belong to the engine (retained, not created) */
    char device_name[256];
    char driver_version[128];
    char platform_name[128];
    int has_int_dot;           /* cl_khr_integer_dot_product with 4x8-bit packed dot */
    int has_fp64;              /* exact f32 division through double (see common.cl) */
    int correct_div;           /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT */
    cl_ulong max_alloc;
    pthread_mutex_t lock;
    qk_ocl_prog *progs;
    qk_ocl_kern *kerns;
    cl_mem scr[QK_OCL_SCR_COUNT];
    size_t scr_bytes[QK_OCL_SCR_COUNT];
    char cache_dir[1024];      /* "" = no disk cache */
    qk_ocl_stats stats;
} qk_ocl;

/* "CL_OUT_OF_RESOURCES" for -5; "CL_ERROR(-9999)" style (static buffer) for unknown codes. */
const char *qk_ocl_error_name(cl_int err);
/* Records "<what>: <CL error name>" as QKERN_DEVICE_ERROR (or OUT_OF_MEMORY for host allocation). */
qkern_status qk_ocl_fail(cl_int err, const char *what);

/* Backend entries (ocl_host.c). */
int qk_ocl_probe(uint64_t cpu, char *why, size_t why_size);
qkern_status qk_ocl_open(uint64_t cpu, void **state, char *why, size_t why_size);
void qk_ocl_close(void *state);

/* The program for file (a .cl name, or several joined by '+', compiled as one source in
 * that order) built with options (the common prelude is prepended);
 * from memory, disk, or a fresh build. Build failures give QKERN_DEVICE_ERROR with the log.
 * Call with st->lock held. */
qkern_status qk_ocl_program(qk_ocl *st, const char *file, const char *options, cl_program *out);
/* A fresh cl_kernel from qk_ocl_program (the caller releases it). */
qkern_status qk_ocl_kernel(qk_ocl *st, const char *file, const char *options, const char *name, cl_kernel *out);
/* A cl_kernel cached in the context (do not release it); call with st->lock held. */
qkern_status qk_ocl_kernel_cached(qk_ocl *st, const char *file, const char *options, const char *name, cl_kernel *out);
/* Scratch slot `slot` with at least `bytes` (grow-only, owned by the context); lock held. */
qkern_status qk_ocl_scratch(qk_ocl *st, int slot, size_t bytes, cl_mem *out);
/* Options every program gets: the exact-division choice and the device's extensions. */
const char *qk_ocl_base_options(const qk_ocl *st);

/* Buffers: a device buffer filled from host memory (bytes may be 0 → a 16-byte dummy). */
qkern_status qk_ocl_upload(qk_ocl *st, const void *src, size_t bytes, cl_mem_flags flags, cl_mem *out);
qkern_status qk_ocl_alloc(qk_ocl *st, size_t bytes, cl_mem_flags flags, cl_mem *out);
/* Sets args from a list of (size, pointer) pairs; n pairs. */
cl_int qk_ocl_set_args(cl_kernel k, int n, const size_t *sizes, const void *const *ptrs);
/* Enqueues k over a 2-D range (global rounded up to local), optionally waiting. */
cl_int qk_ocl_run2d(cl_command_queue q, cl_kernel k, size_t g0, size_t g1, size_t l0, size_t l1);

/* Quantize / dequantize (quant_opencl.c). */
const char *qk_ocl_quant_kernel_name(qk_op op, const qkern_quant_desc *d);
qkern_status qk_ocl_quantize(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1);
qkern_status qk_ocl_dequantize(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1);

/* Matmul (matmul_opencl.c). */
extern const qk_matmul_ops qk_ocl_matmul_ops;
const char *qk_ocl_matmul_kernel_name(const qkern_quant_desc *d, qkern_act_mode act);
/* The matmul on device buffers: x (f32, m rows of ldx at byte offset x_off), y likewise,
 * enqueued on q (which must belong to st->context). Blocks until done if wait. host_mask:
 * LLM.int8's outlier mask from the front end, or NULL to compute it on the device. */
qkern_status qk_ocl_matmul_buffers(qk_ocl *st, const qk_packed *p, cl_command_queue q, int64_t m, cl_mem x,
                                   size_t x_off, int64_t ldx, cl_mem y, size_t y_off, int64_t ldy, int wait,
                                   const uint8_t *host_mask);

/* Adoption of an engine's queue by the next open() on this thread (qkern_opencl_context_create). */
void qk_ocl_set_pending_queue(cl_command_queue q);

#endif
