/* qkern — status codes and the last error message.
 *
 * Every public function returns a qkern_status. On failure the library leaves a
 * human-readable message (naming the offending value) for the calling thread. */
#ifndef QKERN_STATUS_H
#define QKERN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define QKERN_API __declspec(dllexport)
#else
#define QKERN_API __attribute__((visibility("default")))
#endif

typedef enum qkern_status {
    QKERN_OK = 0,
    QKERN_INVALID_ARGUMENT = 1,
    QKERN_UNSUPPORTED = 2,
    QKERN_OUT_OF_MEMORY = 3,
    QKERN_BACKEND_UNAVAILABLE = 4,
    QKERN_DEVICE_ERROR = 5,
    QKERN_IO = 6,
    QKERN_CORRUPT = 7
} qkern_status;

/* "QKERN_INVALID_ARGUMENT", … ; never NULL. */
QKERN_API const char *qkern_status_name(qkern_status s);

/* The message left by the last failing qkern call on this thread ("" if none).
 * Valid until the next qkern call on the same thread. */
QKERN_API const char *qkern_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
