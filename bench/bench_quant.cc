// Quantize (F32 → format) and dequantize (format → F32) through the public API on
// every backend, over a matrix larger than the last-level cache. GB/s counts the f32
// bytes plus the quantised bytes (data + scales + zero points); the ceiling beside it
// is the machine's copy bandwidth for the same thread count.
#include <cstdio>
#include <cstring>
#include <map>

#include "bench/qkb.h"

namespace {

struct QuantCase {
    const char *name;  // row name, lower case
    qkern_format format;
    int64_t group;
    uint32_t flags;
};

const QuantCase kCases[] = {
    {"i8", QKERN_I8, QKERN_GROUP_DEFAULT, 0},
    {"i8_asym", QKERN_I8_ASYM, QKERN_GROUP_DEFAULT, 0},
    {"i4", QKERN_I4, QKERN_GROUP_DEFAULT, 0},
    {"i4_asym", QKERN_I4, QKERN_GROUP_DEFAULT, QKERN_QUANT_ASYMMETRIC},
    {"q8_0", QKERN_Q8_0, QKERN_GROUP_DEFAULT, 0},
    {"q4_0", QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0},
    {"q4_1", QKERN_Q4_1, QKERN_GROUP_DEFAULT, 0},
    {"q8_1", QKERN_Q8_1, QKERN_GROUP_DEFAULT, 0},
    {"nf4", QKERN_NF4, QKERN_GROUP_DEFAULT, 0},
    {"fp8_e4m3", QKERN_FP8_E4M3, QKERN_GROUP_DEFAULT, 0},
    {"fp8_e5m2", QKERN_FP8_E5M2, QKERN_GROUP_DEFAULT, 0},
};

// 4096 × 4096 f32 is 64 MiB: twice the largest LLC here, so every pass streams DRAM.
constexpr int64_t kRows = 4096, kCols = 4096;

struct QBuf {
    qkern_qtensor t{};
    size_t bytes = 0;  // data + scales + zeros
    std::string error;
};

float *g_src = nullptr, *g_dst = nullptr;
std::map<std::string, QBuf> g_q;

void free_qbuf(QBuf &b) {
    qkb_free(b.t.data, b.t.data_bytes);
    qkb_free(b.t.scales, b.t.scales_bytes);
    qkb_free(b.t.zeros, b.t.zeros_bytes);
    b = QBuf{};
}

const size_t kF32Bytes = (size_t)kRows * kCols * sizeof(float);

// The quantised buffer of a case, filled by quantising g_src on ctx once (so dequantize
// reads real codes and every page is backed).
QBuf &qbuf(const QuantCase &c, qkern_context *ctx) {
    if (!g_src) {
        g_src = static_cast<float *>(qkb_alloc(kF32Bytes));
        g_dst = static_cast<float *>(qkb_alloc(kF32Bytes));
        if (!g_src || !g_dst) {
            std::fprintf(stderr, "qkern-bench: out of memory for the quantize matrices\n");
            std::exit(1);
        }
        qkb_fill_weights(g_src, (size_t)kRows * kCols, 42);
        qkb_fill_bytes(g_dst, kF32Bytes, 43);
    }
    auto it = g_q.find(c.name);
    if (it != g_q.end()) return it->second;
    QBuf &b = g_q[c.name];
    b.t.desc = {c.format, c.group, c.flags};
    b.t.rows = kRows;
    b.t.cols = kCols;
    qkern_status s = qkern_qtensor_sizes(&b.t.desc, kRows, kCols, &b.t.data_bytes, &b.t.scales_bytes,
                                         &b.t.zeros_bytes);
    if (s != QKERN_OK) {
        b.error = std::string("qkern_qtensor_sizes: ") + qkern_last_error();
        return b;
    }
    b.t.data = b.t.data_bytes ? qkb_alloc(b.t.data_bytes) : nullptr;
    b.t.scales = b.t.scales_bytes ? qkb_alloc(b.t.scales_bytes) : nullptr;
    b.t.zeros = b.t.zeros_bytes ? qkb_alloc(b.t.zeros_bytes) : nullptr;
    b.bytes = b.t.data_bytes + b.t.scales_bytes + b.t.zeros_bytes;
    s = qkern_quantize(ctx, g_src, QKERN_F32, kF32Bytes, &b.t);
    if (s != QKERN_OK) b.error = std::string("qkern_quantize: ") + qkern_status_name(s) + ": " + qkern_last_error();
    return b;
}

void bm_quant(benchmark::State &st, std::string backend, QuantCase c, bool dequant, int threads) {
    std::string why;
    qkern_context *ctx = qkb_context(backend, threads, &why);
    if (!ctx) {
        st.SetLabel(why);
        st.SkipWithError(why.c_str());
        return;
    }
    qkern_format_info info;
    qkern_format_get_info(c.format, &info);
    std::string kb, kn;
    if (qkb_describe_kernel(ctx, dequant ? "dequantize" : "quantize", info.name, &kb, &kn) && kb != backend) {
        // The front end would run another backend's kernel: that row is measured there.
        std::string msg = backend + " has no " + info.name + " kernel (falls back to " + kb + " " + kn + ")";
        st.SetLabel(msg);
        st.SkipWithError(msg.c_str());
        return;
    }
    qkb_claim_memory(QkbOwner::Quant);
    QBuf &b = qbuf(c, ctx);
    if (!b.error.empty()) {
        st.SetLabel(b.error);
        st.SkipWithError(b.error.c_str());
        return;
    }
    auto run = [&] {
        return dequant ? qkern_dequantize(ctx, &b.t, g_dst, QKERN_F32, kF32Bytes)
                       : qkern_quantize(ctx, g_src, QKERN_F32, kF32Bytes, &b.t);
    };
    qkern_status s = run();  // warm: thread pool, page tables
    if (s != QKERN_OK) {
        std::string msg = std::string(qkern_status_name(s)) + ": " + qkern_last_error();
        st.SetLabel(msg);
        st.SkipWithError(msg.c_str());
        return;
    }
    QkbTimer timer;
    for (auto _ : st) {
        s = run();
        benchmark::DoNotOptimize(s);
    }
    if (s != QKERN_OK) {
        st.SkipWithError(qkern_last_error());
        return;
    }
    const double secs = timer.wall();
    const double bytes = (double)(kF32Bytes + b.bytes);
    const double gbs = bytes * (double)st.iterations() / secs / 1e9;
    const double roof = qkb_roofline().at(threads).copy_bps / 1e9;
    st.counters["GB/s"] = gbs;
    st.counters["roof_GB/s"] = roof;
    st.counters["roof_pct"] = 100.0 * gbs / roof;
    st.counters["Melem/s"] = (double)kRows * kCols * (double)st.iterations() / secs / 1e6;
    st.counters["threads"] = threads;
    qkb_cpu_counter(st, threads, timer);
    const double beside = qkb_copy_beside(threads); // after the counters: the timer still runs
    if (beside > 0) {
        st.counters["copy_beside_GB/s"] = beside / 1e9;
        st.counters["beside_pct"] = 100.0 * gbs * 1e9 / beside;
    }
    st.SetLabel(kn.empty() ? backend : kn);
}

void bm_unavailable(benchmark::State &st, std::string why) {
    st.SetLabel(why);
    st.SkipWithError(why.c_str());
}

}  // namespace

void qkb_release_quant_buffers() {
    qkb_release_beside_buffer();
    for (auto &kv : g_q) free_qbuf(kv.second);
    g_q.clear();
    qkb_free(g_src, kF32Bytes);
    qkb_free(g_dst, kF32Bytes);
    g_src = g_dst = nullptr;
}

void qkb_register_quant() {
    const std::string shape = "/rows:" + std::to_string(kRows) + "/cols:" + std::to_string(kCols);
    for (const auto &backend : qkb_opt.backends) {
        std::string why;
        if (!qkb_context(backend, 1, &why)) {
            for (const char *op : {"quantize", "dequantize"})
                benchmark::RegisterBenchmark((std::string(op) + "/" + backend).c_str(), bm_unavailable, why)
                    ->Iterations(1);
            continue;
        }
        for (const auto &c : kCases)
            for (bool dequant : {false, true})
                for (int t : qkb_backend_threads(backend, qkb_opt.threads)) {
                    std::string name = std::string(dequant ? "dequantize/" : "quantize/") + backend + "/" + c.name +
                                       shape + "/threads:" + std::to_string(t);
                    benchmark::RegisterBenchmark(name.c_str(), bm_quant, backend, c, dequant, t)
                        ->UseRealTime()
                        ->Unit(benchmark::kMillisecond);
                }
    }
}
