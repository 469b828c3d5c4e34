/* Packed-weight allocation (kernels/packed_alloc.h). */
#define _DEFAULT_SOURCE /* madvise */
#include "kernels/packed_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { QK_HUGE_PAGE = 2u << 20, QK_HUGE_FROM = 4u << 20 };

void *qk_packed_alloc(size_t bytes) {
    if (bytes > SIZE_MAX - QK_HUGE_PAGE) return NULL;
    if (bytes < QK_HUGE_FROM) return aligned_alloc(64, (bytes + 63) / 64 * 64 + (bytes == 0) * 64);
    size_t rounded = (bytes + QK_HUGE_PAGE - 1) / QK_HUGE_PAGE * QK_HUGE_PAGE;
    void *p = aligned_alloc(QK_HUGE_PAGE, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: 4 KiB pages still work */
#endif
    return p;
}
