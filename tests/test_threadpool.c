/* The context's thread pool (kernels/threadpool.h): every task index runs exactly once,
 * for any thread count and task count, also when one thread's run is slow and the others
 * take tasks from its back; each thread's own run is taken in ascending order. */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/threadpool.h"
#include "support/qk_test.h"

typedef struct pool_job {
    atomic_int *count;
    int64_t slow_below; /* tasks below this index sleep 100 µs: the first run lags */
} pool_job;

static void pool_task(void *arg, int64_t i) {
    pool_job *j = arg;
    if (i < j->slow_below) {
        struct timespec t = {0, 100000};
        nanosleep(&t, NULL);
    }
    atomic_fetch_add(&j->count[i], 1);
}

START_TEST(test_pool_each_task_once) {
    static const int threads[] = {1, 2, 3, 5, 8};
    static const int64_t ns[] = {0, 1, 2, 3, 7, 64, 1000};
    for (size_t a = 0; a < sizeof threads / sizeof threads[0]; a++) {
        qk_pool *pool = qk_pool_create(threads[a]);
        ck_assert_ptr_nonnull(pool);
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            const int64_t n = ns[b];
            for (int slow = 0; slow < 2; slow++) {
                atomic_int *count = calloc((size_t)n + 1, sizeof *count);
                ck_assert_ptr_nonnull(count);
                pool_job j = {count, slow ? n / 3 : 0};
                for (int rep = 0; rep < 3; rep++) qk_pool_run(pool, pool_task, &j, n); /* the pool is reused */
                for (int64_t i = 0; i < n; i++)
                    ck_assert_msg(atomic_load(&count[i]) == 3, "threads %d, n %lld, slow %d: task %lld ran %d times in 3 jobs",
                                  threads[a], (long long)n, slow, (long long)i, atomic_load(&count[i]));
                free(count);
            }
        }
        qk_pool_destroy(pool);
    }
}
END_TEST

/* Within one thread the tasks of its own run come in ascending order: a kernel may rely on
 * it for speed (the next task's data is its neighbour), never for results. Checked on the
 * caller's run (thread 0: tasks 0 .. n/T − 1) with no slow tasks: every task of that run
 * the caller ran came after the previous one it ran. */
typedef struct order_job {
    pthread_t caller;
    int64_t last, run_end;
    atomic_int bad;
} order_job;

static void order_task(void *arg, int64_t i) {
    order_job *j = arg;
    if (i < j->run_end && pthread_equal(pthread_self(), j->caller)) {
        if (i <= j->last) atomic_store(&j->bad, 1);
        j->last = i;
    }
}

START_TEST(test_pool_own_run_ascending) {
    qk_pool *pool = qk_pool_create(3);
    ck_assert_ptr_nonnull(pool);
    order_job j = {pthread_self(), -1, 999 / 3, 0};
    qk_pool_run(pool, order_task, &j, 999);
    /* (not asserted: that the caller ran any of its run; under qemu the workers may take
     * all of it from the back before the caller starts) */
    ck_assert_int_eq(atomic_load(&j.bad), 0);
    qk_pool_destroy(pool);
}
END_TEST

static Suite *pool_suite(void) {
    Suite *s = suite_create("threadpool");
    TCase *t = tcase_create("pool");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_pool_each_task_once);
    tcase_add_test(t, test_pool_own_run_ascending);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return qk_test_run(pool_suite()); }
