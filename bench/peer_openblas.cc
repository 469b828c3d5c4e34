// Peer: OpenBLAS sgemm, Y = X·Wᵀ with f32 weights, at the same shapes and thread counts
// as qkern's float-activation modes; the f32 weights rotate through ≥ 1 GiB at M ≤ 8
// like qkern's packed weights. f32 weights are 4-8× the bytes of qkern's quantised
// ones, which is the point of the comparison at M = 1.
#include <cblas.h>

#include <cstdio>

#include "bench/qkb.h"

namespace {

struct Pool {
    int64_t n = 0, k = 0;
    std::vector<float *> w;
};
Pool g;

void skip(benchmark::State &st, const std::string &msg) {
    st.SetLabel(msg);
    st.SkipWithError(msg.c_str());
}

void bm_sgemm(benchmark::State &st, QkbCase c, int threads) {
    qkb_claim_memory(QkbOwner::OpenBLAS);
    const size_t wbytes = (size_t)(c.s.n * c.s.k) * sizeof(float);
    if (g.n != c.s.n || g.k != c.s.k) {
        qkb_release_openblas();
        g.n = c.s.n;
        g.k = c.s.k;
    }
    const size_t count = qkb_rotation_count(wbytes, c.m);
    while (g.w.size() < count) {
        float *w = static_cast<float *>(qkb_alloc(wbytes));
        if (!w) return skip(st, "out of memory for the f32 weights");
        qkb_fill_weights(w, (size_t)(c.s.n * c.s.k), 500 + g.w.size());
        g.w.push_back(w);
    }
    std::vector<float> x((size_t)(c.m * c.s.k)), y((size_t)(c.m * c.s.n));
    qkb_fill_activations(x.data(), c.m, c.s.k, 99);
    openblas_set_num_threads(threads);
    const size_t rot = c.m <= 8 ? g.w.size() : 1;
    auto run = [&](const float *w) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)c.m, (blasint)c.s.n, (blasint)c.s.k, 1.0f,
                    x.data(), (blasint)c.s.k, w, (blasint)c.s.k, 0.0f, y.data(), (blasint)c.s.n);
    };
    run(g.w[0]);
    size_t i = 0;
    QkbTimer timer;
    for (auto _ : st) {
        run(g.w[i]);
        if (++i == rot) i = 0;
    }
    benchmark::DoNotOptimize(y[0]);
    const double bytes = (double)wbytes + (double)(c.m * c.s.k) * sizeof(float);
    qkb_matmul_counters(st, QkbPeak::F32, threads, c.m, c.s.n, c.s.k, bytes, timer);
    st.counters["rotated_MiB"] = (double)(rot * wbytes) / (1 << 20);
    st.SetLabel(std::string("OpenBLAS sgemm ") + openblas_get_corename());
}

}  // namespace

void qkb_release_openblas() {
    const size_t wbytes = (size_t)(g.n * g.k) * sizeof(float);
    for (float *w : g.w) qkb_free(w, wbytes);
    g = Pool{};
}

void qkb_openblas_init() {
    benchmark::AddCustomContext("openblas_config", openblas_get_config());
    benchmark::AddCustomContext("openblas_core", openblas_get_corename());
}

void qkb_register_openblas() {
    for (const QkbCase &c : qkb_matmul_cases())
        for (int t : qkb_threads_for(c)) {
            std::string name = "peer/openblas/w=f32/a=f32/M:" + std::to_string(c.m) + "/N:" + std::to_string(c.s.n) +
                               "/K:" + std::to_string(c.s.k) + "/threads:" + std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(), bm_sgemm, c, t)->UseRealTime()->Unit(benchmark::kMillisecond);
        }
}
