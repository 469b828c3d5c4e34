/* Internal: the context's fixed-size thread pool. */
#ifndef QK_THREADPOOL_H
#define QK_THREADPOOL_H
#include <stdint.h>
#include "qkern/context.h"

typedef struct qk_pool qk_pool;

/* threads - 1 workers are started; the caller makes up the count (thread 0 below). NULL on
 * failure. */
qk_pool *qk_pool_create(int threads);
void qk_pool_destroy(qk_pool *pool);
/* fn(arg, i) for i in [0, n); returns when every task is done. Thread t (the caller is
 * 0) first takes its own run, n·t/T to n·(t+1)/T, in ascending order, then tasks from the
 * back of the other runs; results must not depend on which thread ran which task. */
void qk_pool_run(qk_pool *pool, qkern_task_fn fn, void *arg, int64_t n);

#endif
