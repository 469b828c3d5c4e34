/* A small pool: workers sleep on a condition variable between jobs, take task indices
 * from an atomic counter, and the last one to finish wakes the caller. One job at a
 * time per pool (the context serialises its ops). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "kernels/threadpool.h"

struct qk_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;  /* bumped per job */
    int stop;
    qkern_task_fn fn;
    void *arg;
    int64_t n;
    atomic_llong next;
    int active;           /* workers still inside the current job */
};

static void qk_pool_drain(qk_pool *p) {
    for (;;) {
        long long i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n) break;
        p->fn(p->arg, (int64_t)i);
    }
}

static void *qk_pool_worker(void *vp) {
    qk_pool *p = vp;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        qk_pool_drain(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

qk_pool *qk_pool_create(int threads) {
    qk_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->workers = calloc((size_t)p->threads - 1, sizeof *p->workers);
        if (!p->workers) { qk_pool_destroy(p); return NULL; }
        for (int i = 0; i < p->threads - 1; i++) {
            if (pthread_create(&p->workers[i], NULL, qk_pool_worker, p) != 0) {
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
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; p->workers && i < p->threads - 1; i++) pthread_join(p->workers[i], NULL);
    free(p->workers);
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store(&p->next, 0);
    p->active = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    qk_pool_drain(p);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
