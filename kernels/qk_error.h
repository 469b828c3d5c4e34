/* Internal: setting the thread's last-error message. */
#ifndef QK_ERROR_H
#define QK_ERROR_H

#include "qkern/status.h"

#if defined(__GNUC__)
#define QK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QK_PRINTF(a, b)
#endif

/* Records "fmt …" as the thread's last error and returns s, so callers can write
 * `return qk_error(QKERN_INVALID_ARGUMENT, "K=%lld is not …", k);` */
qkern_status qk_error(qkern_status s, const char *fmt, ...) QK_PRINTF(2, 3);
/* Clears the message (called on entry to public functions). */
void qk_error_clear(void);

/* Overflow-checked size arithmetic: 0 on overflow. */
int qk_mul_size(size_t a, size_t b, size_t *out);
int qk_add_size(size_t a, size_t b, size_t *out);

#endif
