/* qkern — the context: backend choice, threads, description of the machine. */
#ifndef QKERN_CONTEXT_H
#define QKERN_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include "qkern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QKERN_VERSION_MAJOR 0
#define QKERN_VERSION_MINOR 1
#define QKERN_VERSION_PATCH 0

/* "0.1.0"; the version of the library actually linked. */
QKERN_API const char *qkern_version(void);
QKERN_API void qkern_version_numbers(int *major, int *minor, int *patch);

typedef struct qkern_context qkern_context;

/* An engine's own parallel-for: call fn(arg, i) for every i in [0, n), return when all are done. */
typedef void (*qkern_task_fn)(void *arg, int64_t i);
typedef void (*qkern_parallel_for_fn)(void *user, qkern_task_fn fn, void *arg, int64_t n);

typedef struct qkern_context_options {
    const char *backend;  /* "best" (or NULL), "scalar", "x86", "neon", "opencl"; QKERN_BACKEND overrides */
    int threads;          /* 0 = online cores; 1 = no pool, run on the caller's thread */
    qkern_parallel_for_fn parallel_for; /* if set, used instead of an owned pool */
    void *parallel_for_user;
    const char *tuning_file; /* NULL = QKERN_TUNING_FILE or the default path */
} qkern_context_options;

/* Fills opts with defaults (best backend, online cores). */
QKERN_API void qkern_context_options_init(qkern_context_options *opts);
/* opts may be NULL for the defaults. */
QKERN_API qkern_status qkern_context_create(const qkern_context_options *opts, qkern_context **ctx);
QKERN_API void qkern_context_destroy(qkern_context *ctx);

/* A multi-line, human-readable description: CPU features detected (and masked by
 * QKERN_DISABLE), every backend with available / unavailable and why, the thread
 * count, and which backend and kernel each op × format will use. Writes at most
 * buf_size bytes (always NUL-terminated); *needed (if not NULL) gets the full length + 1. */
QKERN_API qkern_status qkern_context_describe(const qkern_context *ctx, char *buf, size_t buf_size, size_t *needed);

/* The backend the context prefers ("x86", …) and the number of threads it runs. */
QKERN_API const char *qkern_context_backend(const qkern_context *ctx);
QKERN_API int qkern_context_threads(const qkern_context *ctx);

/* CPU features, after QKERN_DISABLE masking. */
#define QKERN_CPU_AVX2        (1ull << 0)
#define QKERN_CPU_AVX512F     (1ull << 1)
#define QKERN_CPU_AVX512BW    (1ull << 2)
#define QKERN_CPU_AVX512VL    (1ull << 3)
#define QKERN_CPU_AVX512VNNI  (1ull << 4)
#define QKERN_CPU_AVX512BF16  (1ull << 5)
#define QKERN_CPU_AVX512FP16  (1ull << 6)
#define QKERN_CPU_AVXVNNI     (1ull << 7)
#define QKERN_CPU_AMX_INT8    (1ull << 8)
#define QKERN_CPU_AMX_BF16    (1ull << 9)
#define QKERN_CPU_F16C        (1ull << 10)
#define QKERN_CPU_FMA         (1ull << 11)
#define QKERN_CPU_NEON        (1ull << 32)
#define QKERN_CPU_DOTPROD     (1ull << 33)
#define QKERN_CPU_I8MM        (1ull << 34)
#define QKERN_CPU_BF16_ARM    (1ull << 35)
#define QKERN_CPU_FP16_ARM    (1ull << 36)

QKERN_API uint64_t qkern_cpu_features(void);
/* "avx512vnni" for QKERN_CPU_AVX512VNNI; NULL for an unknown bit. */
QKERN_API const char *qkern_cpu_feature_name(uint64_t bit);

#ifdef __cplusplus
}
#endif
#endif
