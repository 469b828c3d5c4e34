/* Memory for packed weights: large, long-lived, read as one stream per GEMV. */
#ifndef QKERN_PACKED_ALLOC_H
#define QKERN_PACKED_ALLOC_H
#include <stddef.h>

/* 64-byte aligned, bytes rounded up to 64; free() releases it. From 4 MiB on the block is
 * 2 MiB aligned and advised for transparent huge pages, where the OS has them: a GEMV
 * streams the whole buffer once per call, and on 4 KiB pages the hardware prefetchers stop
 * at every page boundary (Zen 4, M = 1: I8 26-28 → 30-31 GB/s, Q4_0 21-22 → 23-24 GB/s
 * against a 32 GB/s read probe; docs/performance-x86.md). NULL when out of memory. */
void *qk_packed_alloc(size_t bytes);

#endif
