/* A small pool: each of the T threads owns a contiguous run of the task indices, n·t/T up
 * to n·(t+1)/T, and takes it in ascending order; a thread whose run is done takes tasks
 * from the back of the others' runs. So a thread's consecutive tasks are neighbours (a
 * kernel streaming weights keeps one stream across its tasks, and may prefetch the next
 * task's data), while the load still balances. The last one to finish wakes the caller.
 * Between jobs a worker first spins for a short while on the job counter, then sleeps on
 * a condition variable: waking a sleeping thread costs an
 * inter-processor interrupt, tens of µs under a hypervisor, which is a tenth of a
 * 4096 × 4096 4-bit GEMV (~0.35 ms at 2 threads). One job at a time per pool (the
 * context serialises its ops). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kernels/threadpool.h"

struct qk_pool {
    int threads;
    pthread_t *workers;
    struct qk_pool_worker_arg *wargs; /* worker i runs as thread i + 1 */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation; /* bumped per job, under mu */
    atomic_int stop;
    qkern_task_fn fn;
    void *arg;
    int64_t base;                    /* the first task index of this round */
    _Atomic uint64_t *runs;          /* per thread: (next << 32) | end, the run not yet taken */
    atomic_int active;               /* workers still inside the current job */
    int64_t spin_ns;                 /* how long a waiting thread spins before it sleeps */
};

/* Spin between jobs only while every thread has a CPU of its own: oversubscribed, a
 * spinning thread takes the time slice of one with work. 200 µs covers the gap between
 * back-to-back calls (a bench loop, an engine's layer after layer) and is still short
 * beside a time slice. */
#define QK_POOL_SPIN_NS 200000

static void qk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t qk_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until cond(p, v) is false or spin_ns have passed. */
static void qk_pool_spin(qk_pool *p, int (*cond)(qk_pool *, uint64_t), uint64_t v) {
    if (p->spin_ns <= 0) return;
    int64_t end = 0;
    for (unsigned i = 0; cond(p, v); i++) {
        qk_cpu_relax();
        if ((i & 255) == 0) {
            int64_t now = qk_now_ns();
            if (!end) end = now + p->spin_ns;
            else if (now > end) return;
        }
    }
}

static int qk_no_new_job(qk_pool *p, uint64_t seen) {
    return !atomic_load_explicit(&p->stop, memory_order_relaxed) &&
           atomic_load_explicit(&p->generation, memory_order_acquire) == seen;
}

static int qk_workers_busy(qk_pool *p, uint64_t unused) {
    (void)unused;
    return atomic_load_explicit(&p->active, memory_order_acquire) > 0;
}

/* The front task of run r (own: ascending) or its back task (stolen: descending); -1 when
 * the run is empty. */
static int64_t qk_pool_take(qk_pool *p, int r, int front) {
    uint64_t v = atomic_load_explicit(&p->runs[r], memory_order_relaxed);
    for (;;) {
        uint64_t next = v >> 32, end = v & 0xFFFFFFFFu;
        if (next >= end) return -1;
        uint64_t w = front ? ((next + 1) << 32) | end : (next << 32) | (end - 1);
        if (atomic_compare_exchange_weak_explicit(&p->runs[r], &v, w, memory_order_acq_rel, memory_order_relaxed))
            return (int64_t)(front ? next : end - 1);
    }
}

static void qk_pool_drain(qk_pool *p, int self) {
    for (int64_t i; (i = qk_pool_take(p, self, 1)) >= 0;) p->fn(p->arg, p->base + i);
    for (int k = 1; k < p->threads; k++) {
        const int r = (self + k) % p->threads;
        for (int64_t i; (i = qk_pool_take(p, r, 0)) >= 0;) p->fn(p->arg, p->base + i);
    }
}

typedef struct qk_pool_worker_arg {
    qk_pool *p;
    int self;
} qk_pool_worker_arg;

static void *qk_pool_worker(void *vp) {
    qk_pool_worker_arg *wa = vp;
    qk_pool *p = wa->p;
    const int self = wa->self;
    uint64_t seen = 0;
    for (;;) {
        qk_pool_spin(p, qk_no_new_job, seen);
        pthread_mutex_lock(&p->mu);
        while (qk_no_new_job(p, seen)) pthread_cond_wait(&p->wake, &p->mu);
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->mu);
        if (atomic_load(&p->stop)) break;
        qk_pool_drain(p, self);
        /* the last worker out wakes the caller; under mu, so a caller that saw active > 0
         * under mu is already waiting when the signal comes */
        if (atomic_fetch_sub(&p->active, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

qk_pool *qk_pool_create(int threads) {
    qk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads < 1 ? 1 : threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->spin_ns = cpus > 0 && p->threads <= cpus ? QK_POOL_SPIN_NS : 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->workers = calloc((size_t)p->threads - 1, sizeof *p->workers);
        p->wargs = calloc((size_t)p->threads - 1, sizeof *p->wargs);
        p->runs = calloc((size_t)p->threads, sizeof *p->runs);
        if (!p->workers || !p->wargs || !p->runs) { p->threads = 1; qk_pool_destroy(p); return NULL; }
        for (int i = 0; i < p->threads - 1; i++) {
            p->wargs[i] = (qk_pool_worker_arg){p, i + 1}; /* the caller is run 0 */
            if (pthread_create(&p->workers[i], NULL, qk_pool_worker, &p->wargs[i]) != 0) {
                p->threads = i + 1; /* keep the ones that started so destroy joins them */
                qk_pool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void qk_pool_destroy(qk_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->workers && i < p->threads - 1; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
    free(p->wargs);
    free(p->runs);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

void qk_pool_run(qk_pool *p, qkern_task_fn fn, void *arg, int64_t n) {
    if (n <= 0) return;
    if (p->threads == 1 || n == 1) {
        for (int64_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    /* runs hold 32-bit indices: a larger job goes in rounds */
    for (int64_t base = 0; base < n; base += (int64_t)1 << 31) {
        const int64_t m = n - base < ((int64_t)1 << 31) ? n - base : (int64_t)1 << 31;
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->base = base;
        for (int t = 0; t < p->threads; t++) {
            const uint64_t lo = (uint64_t)(m * t / p->threads), hi = (uint64_t)(m * (t + 1) / p->threads);
            atomic_store_explicit(&p->runs[t], (lo << 32) | hi, memory_order_relaxed);
        }
        atomic_store(&p->active, p->threads - 1);
        atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
        qk_pool_drain(p, 0);
        qk_pool_spin(p, qk_workers_busy, 0);
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
