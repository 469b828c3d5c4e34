/* Status names and the per-thread last-error message (thread-local, so no global
 * state an engine has to lock, and a failed qkern_context_create still explains itself). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/qk_error.h"

static _Thread_local char qk_last_message[512];

const char *qkern_status_name(qkern_status s) {
    switch (s) {
    case QKERN_OK: return "QKERN_OK";
    case QKERN_INVALID_ARGUMENT: return "QKERN_INVALID_ARGUMENT";
    case QKERN_UNSUPPORTED: return "QKERN_UNSUPPORTED";
    case QKERN_OUT_OF_MEMORY: return "QKERN_OUT_OF_MEMORY";
    case QKERN_BACKEND_UNAVAILABLE: return "QKERN_BACKEND_UNAVAILABLE";
    case QKERN_DEVICE_ERROR: return "QKERN_DEVICE_ERROR";
    case QKERN_IO: return "QKERN_IO";
    case QKERN_CORRUPT: return "QKERN_CORRUPT";
    }
    return "QKERN_UNKNOWN_STATUS";
}

const char *qkern_last_error(void) { return qk_last_message; }

void qk_error_clear(void) { qk_last_message[0] = '\0'; }

qkern_status qk_error(qkern_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(qk_last_message, sizeof qk_last_message, fmt, ap);
    va_end(ap);
    return s;
}

int qk_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int qk_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}
