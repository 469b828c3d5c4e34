/* Internal: CPU features. */
#ifndef QK_CPU_FEATURES_H
#define QK_CPU_FEATURES_H
#include <stddef.h>
#include <stdint.h>

uint64_t qk_cpu_features_raw(void);  /* before QKERN_DISABLE */
uint64_t qk_cpu_disable_mask(const char *spec, char *unknown, size_t unknown_size);
size_t qk_cpu_features_string(uint64_t f, char *buf, size_t size); /* "avx2 avx512f …" */

#endif
