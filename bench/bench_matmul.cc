// Matmul Y = X·Wᵀ in every activation × weight mode of docs/matmul.md, through the
// public API (pack once, run many), on every backend and the LLM shapes.
//
// Decode (M ≤ 8) is a stream over the weights, so the benchmark cycles through packed
// copies totalling ≥ 1 GiB, each packed from real quantised weights: re-reading one
// 10-50 MB matrix would measure the LLC, and never-written pages all map to the one
// zero page and measure L1.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/qkb.h"

namespace {

struct Mode {
    const char *w, *a;  // row name parts: weight format, activation mode
    qkern_act_mode act;
    qkern_format format;
    int64_t group;
    uint32_t flags;
    QkbPeak peak;       // the compute ceiling of the arithmetic docs/matmul.md prescribes
};

const std::string kX86Vnni = "x86-vnni";

const Mode kModes[] = {
    // Float activations, weights dequantised on the fly: f32 FMA arithmetic.
    {"i8", "f32", QKERN_ACT_FLOAT, QKERN_I8, QKERN_GROUP_ROW, 0, QkbPeak::F32},
    {"i8_asym", "f32", QKERN_ACT_FLOAT, QKERN_I8_ASYM, QKERN_GROUP_ROW, 0, QkbPeak::F32},
    {"i4", "f32", QKERN_ACT_FLOAT, QKERN_I4, 128, 0, QkbPeak::F32},
    {"q4_0", "f32", QKERN_ACT_FLOAT, QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0, QkbPeak::F32},
    {"q4_1", "f32", QKERN_ACT_FLOAT, QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0, QkbPeak::F32},
    {"q8_0", "f32", QKERN_ACT_FLOAT, QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0, QkbPeak::F32},
    {"nf4", "f32", QKERN_ACT_FLOAT, QKERN_NF4, QKERN_GROUP_DEFAULT, 0, QkbPeak::F32},
    {"fp8_e4m3", "f32", QKERN_ACT_FLOAT, QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QkbPeak::F32},
    {"fp8_e5m2", "f32", QKERN_ACT_FLOAT, QKERN_FP8_E5M2, QKERN_GROUP_ROW, 0, QkbPeak::F32},
    // Dynamic int8 activations (W8A8, W4A8): int8 dot products.
    {"i8", "i8", QKERN_ACT_I8_DYNAMIC, QKERN_I8, QKERN_GROUP_ROW, 0, QkbPeak::Int8},
    {"i4", "i8", QKERN_ACT_I8_DYNAMIC, QKERN_I4, 128, 0, QkbPeak::Int8},
    // ggml pairs.
    {"q4_0", "q8_0", QKERN_ACT_Q8_0, QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0, QkbPeak::Int8},
    {"q8_0", "q8_0", QKERN_ACT_Q8_0, QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0, QkbPeak::Int8},
    {"q4_1", "q8_1", QKERN_ACT_Q8_1, QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0, QkbPeak::Int8},
    // FP8 × FP8: products exact and sums in f32 (docs/matmul.md); where the CPU has
    // AVX512_BF16 both operands widen exactly to BF16 and vdpbf16ps (twice the f32 FMA's
    // rate on Zen 4) is the ceiling, else the f32 FMA peak.
    {"fp8_e4m3", "fp8_e4m3", QKERN_ACT_FP8_E4M3, QKERN_FP8_E4M3, QKERN_GROUP_ROW, 0, QkbPeak::Bf16},
    {"fp8_e5m2", "fp8_e5m2", QKERN_ACT_FP8_E5M2, QKERN_FP8_E5M2, QKERN_GROUP_ROW, 0, QkbPeak::Bf16},
    // LLM.int8(): almost all of the work is the int8 part.
    {"i8", "llm_int8", QKERN_ACT_LLM_INT8, QKERN_I8, QKERN_GROUP_ROW, 0, QkbPeak::Int8},
};

// The weights of one (backend, mode, shape): the quantised tensor and its packed copies.
struct Pool {
    std::string key;
    qkern_qtensor q{};
    size_t q_bytes = 0;          // data + scales + zeros of the quantised tensor
    std::vector<qkern_packed_weights *> w;
    std::string backend, kernel; // what qkern_packed_weights_info reports
    std::string error;           // set if quantize or pack failed (the rows are skipped)
};

Pool g_pool;

// Activations and outputs, sized for the largest case.
float *g_x = nullptr, *g_y = nullptr;
size_t g_x_elems = 0, g_y_elems = 0;

std::string status_text(const char *what, qkern_status s) {
    return std::string(what) + ": " + qkern_status_name(s) + ": " + qkern_last_error();
}

void free_pool() {
    for (auto *p : g_pool.w) qkern_packed_weights_destroy(p);
    qkb_free(g_pool.q.data, g_pool.q.data_bytes);
    qkb_free(g_pool.q.scales, g_pool.q.scales_bytes);
    qkb_free(g_pool.q.zeros, g_pool.q.zeros_bytes);
    g_pool = Pool{};
}

// The pool for (backend, mode, shape) with at least `count` packed copies.
Pool &pool(qkern_context *ctx, const std::string &backend, const Mode &md, const QkbShape &s, size_t count) {
    std::string key = backend + "|" + md.w + "|" + md.a + "|" + std::to_string(s.n) + "x" + std::to_string(s.k);
    // A packed object may hold per-context device state on non-CPU backends.
    if (backend == "opencl") key += "|" + std::to_string((uintptr_t)ctx);
    if (g_pool.key != key) {
        free_pool();
        g_pool.key = key;
        qkern_qtensor &q = g_pool.q;
        q.desc = {md.format, md.group, md.flags};
        q.rows = s.n;
        q.cols = s.k;
        qkern_status st = qkern_qtensor_sizes(&q.desc, s.n, s.k, &q.data_bytes, &q.scales_bytes, &q.zeros_bytes);
        if (st != QKERN_OK) {
            g_pool.error = status_text("qkern_qtensor_sizes", st);
            return g_pool;
        }
        q.data = q.data_bytes ? qkb_alloc(q.data_bytes) : nullptr;
        q.scales = q.scales_bytes ? qkb_alloc(q.scales_bytes) : nullptr;
        q.zeros = q.zeros_bytes ? qkb_alloc(q.zeros_bytes) : nullptr;
        g_pool.q_bytes = q.data_bytes + q.scales_bytes + q.zeros_bytes;
        const size_t f32_bytes = (size_t)s.n * (size_t)s.k * sizeof(float);
        float *wf = static_cast<float *>(qkb_alloc(f32_bytes));
        if (!wf) {
            g_pool.error = "out of memory for the f32 weights";
            return g_pool;
        }
        qkb_fill_weights(wf, (size_t)s.n * (size_t)s.k, 1000u + (unsigned)md.format);
        st = qkern_quantize(ctx, wf, QKERN_F32, f32_bytes, &q);
        qkb_free(wf, f32_bytes);
        if (st != QKERN_OK) {
            g_pool.error = status_text("qkern_quantize", st);
            return g_pool;
        }
    }
    if (!g_pool.error.empty()) return g_pool;
    qkern_matmul_options o;
    qkern_matmul_options_init(&o);
    o.act = md.act;
    // "x86-vnni": the x86 backend with amx_int8 masked while packing (the kernel is chosen at
    // pack time), so the vpdpbusd tiles stay measured on a CPU with AMX.
    const bool vnni_only = backend == kX86Vnni;
    const std::string real = vnni_only ? "x86" : backend;
    while (g_pool.w.size() < count) {
        qkern_packed_weights *p = nullptr;
        std::string saved;
        if (vnni_only) {
            const char *old = std::getenv("QKERN_DISABLE");
            saved = old ? old : "";
            setenv("QKERN_DISABLE", (saved.empty() ? std::string("amx_int8") : saved + ",amx_int8").c_str(), 1);
        }
        qkern_status st = qkern_pack_weights(ctx, &g_pool.q, &o, &p);
        if (vnni_only) {
            if (saved.empty()) unsetenv("QKERN_DISABLE");
            else setenv("QKERN_DISABLE", saved.c_str(), 1);
        }
        if (st != QKERN_OK) {
            g_pool.error = status_text("qkern_pack_weights", st);
            return g_pool;
        }
        g_pool.w.push_back(p);
        if (g_pool.w.size() == 1) {
            const char *b = nullptr, *k = nullptr;
            if (qkern_packed_weights_info(p, nullptr, nullptr, &b, &k) == QKERN_OK) {
                g_pool.backend = b ? b : "";
                g_pool.kernel = k ? k : "";
            }
            // A fallback is measured on its own backend's row; do not pack 1 GiB for it.
            if (g_pool.backend != real) return g_pool;
        }
    }
    return g_pool;
}

void ensure_xy(int64_t m, const QkbShape &s) {
    size_t xe = (size_t)m * (size_t)s.k, ye = (size_t)m * (size_t)s.n;
    if (xe > g_x_elems) {
        qkb_free(g_x, g_x_elems * sizeof(float));
        g_x = static_cast<float *>(qkb_alloc(xe * sizeof(float)));
        g_x_elems = xe;
    }
    if (ye > g_y_elems) {
        qkb_free(g_y, g_y_elems * sizeof(float));
        g_y = static_cast<float *>(qkb_alloc(ye * sizeof(float)));
        g_y_elems = ye;
        qkb_fill_bytes(g_y, ye * sizeof(float), 7);
    }
    if (!g_x || !g_y) {
        std::fprintf(stderr, "qkern-bench: out of memory for activations\n");
        std::exit(1);
    }
    qkb_fill_activations(g_x, m, s.k, 99);
}

void skip(benchmark::State &st, const std::string &msg) {
    st.SetLabel(msg);
    st.SkipWithError(msg.c_str());
}

void bm_matmul(benchmark::State &st, std::string backend, Mode md, QkbCase c, int threads) {
    std::string why;
    const std::string real = backend == kX86Vnni ? "x86" : backend;
    qkern_context *ctx = qkb_context(real, threads, &why);
    if (!ctx) return skip(st, why);
    qkb_claim_memory(QkbOwner::Matmul);
    // Size the rotation from the quantised tensor (the packed copy is the same bytes
    // re-laid-out, plus at most a few per-column sums).
    size_t count = 1;
    if (c.m <= 8) {
        size_t per = 0, sb = 0, zb = 0;
        qkern_quant_desc d = {md.format, md.group, md.flags};
        if (qkern_qtensor_sizes(&d, c.s.n, c.s.k, &per, &sb, &zb) == QKERN_OK) count = qkb_rotation_count(per + sb + zb, c.m);
    }
    Pool &p = pool(ctx, backend, md, c.s, count);
    if (!p.error.empty()) return skip(st, p.error);
    if (p.backend != real)
        return skip(st, backend + " has no " + md.w + " x " + md.a + " kernel (falls back to " + p.backend + " " +
                            p.kernel + ")");
    ensure_xy(c.m, c.s);
    const size_t rot = c.m <= 8 ? p.w.size() : 1;
    qkern_status s = qkern_matmul(ctx, p.w[0], c.m, g_x, c.s.k, g_y, c.s.n);  // warm the pool threads
    if (s != QKERN_OK) return skip(st, status_text("qkern_matmul", s));
    // One untimed pass over the rotation: right after packing ~1 GiB (and freeing the last
    // mode's pool) the first pass ran up to 25 % slower (Q4_0 × f32 M = 1: 10.4-11.2 GB/s
    // with --benchmark_min_time=0.05, 14.0 at 0.3 or after a pass), which the quick
    // report's short rows caught. The weights still come from DRAM: the rotation is > L3.
    for (size_t j = 1; j < rot; j++) qkern_matmul(ctx, p.w[j], c.m, g_x, c.s.k, g_y, c.s.n);
    size_t i = 0;
    QkbTimer timer;
    for (auto _ : st) {
        s = qkern_matmul(ctx, p.w[i], c.m, g_x, c.s.k, g_y, c.s.n);
        if (++i == rot) i = 0;
    }
    benchmark::DoNotOptimize(g_y[0]);
    if (s != QKERN_OK) return skip(st, status_text("qkern_matmul", s));
    const double bytes = (double)p.q_bytes + (double)c.m * (double)c.s.k * sizeof(float);
    qkb_matmul_counters(st, md.peak, threads, c.m, c.s.n, c.s.k, bytes, timer);
    st.counters["rotated_MiB"] = (double)(rot * p.q_bytes) / (1 << 20);
    if (c.m <= 8) { // the GEMVs stream their weights: the read ceiling of this minute too (after the
                    // counters: the timer still runs)
        const double beside = qkb_read_beside(threads);
        if (beside > 0) {
            st.counters["read_beside_GB/s"] = beside / 1e9;
            st.counters["beside_pct"] = 100.0 * st.counters["GB/s"].value * 1e9 / beside;
        }
    }
    st.SetLabel(p.kernel);
}

void bm_unavailable(benchmark::State &st, std::string why) { skip(st, why); }

}  // namespace

void qkb_release_matmul_pool() {
    free_pool();
    qkb_release_beside_buffer();
    qkb_free(g_x, g_x_elems * sizeof(float));
    qkb_free(g_y, g_y_elems * sizeof(float));
    g_x = g_y = nullptr;
    g_x_elems = g_y_elems = 0;
}

void qkb_register_matmul() {
    for (const auto &backend : qkb_opt.backends) {
        std::string why;
        if (!qkb_context(backend, 1, &why)) {
            benchmark::RegisterBenchmark(("matmul/" + backend).c_str(), bm_unavailable, why)->Iterations(1);
            continue;
        }
        for (const Mode &md : kModes)
            for (const QkbCase &c : qkb_matmul_cases())
                for (int t : qkb_backend_threads(backend, qkb_threads_for(c))) {
                    std::string name = "matmul/" + backend + "/w=" + md.w + "/a=" + md.a + "/M:" + std::to_string(c.m) +
                                       "/N:" + std::to_string(c.s.n) + "/K:" + std::to_string(c.s.k) +
                                       "/threads:" + std::to_string(t);
                    benchmark::RegisterBenchmark(name.c_str(), bm_matmul, backend, md, c, t)
                        ->UseRealTime()
                        ->Unit(benchmark::kMillisecond);
                    // Where AMX takes the int8 GEMMs, the same rows on the vpdpbusd tiles.
                    if (backend == "x86" && (qkern_cpu_features() & QKERN_CPU_AMX_INT8) && c.m >= 16 &&
                        (md.act == QKERN_ACT_I8_DYNAMIC || (md.act == QKERN_ACT_Q8_0 && md.format == QKERN_Q4_0))) {
                        std::string vn = "matmul/" + kX86Vnni + name.substr(name.find('/', 7));
                        benchmark::RegisterBenchmark(vn.c_str(), bm_matmul, kX86Vnni, md, c, t)
                            ->UseRealTime()
                            ->Unit(benchmark::kMillisecond);
                    }
                }
    }
}
