// The machine's ceilings, measured in the same binary as the kernels they bound:
// int8 dot-product peak, f32 FMA peak, DRAM read and copy bandwidth, for 1 and N threads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include <time.h>

#include "bench/qkb.h"
#include "bench/roofline_isa.h"

double qkb_process_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_seconds() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

QkbTimer::QkbTimer() : wall0(wall_seconds()), cpu0(qkb_process_cpu_seconds()) {}
double QkbTimer::wall() const { return wall_seconds() - wall0; }
double QkbTimer::cpu() const { return qkb_process_cpu_seconds() - cpu0; }

namespace {

using Clock = std::chrono::steady_clock;

QkbRoofline g_roof;
std::atomic<uint64_t> g_sink{0};

// Runs body(tid) on `threads` threads (the caller is thread 0) released together;
// returns the wall time from release until the last one finishes. Thread start-up
// happens before the release, so it is not timed.
double g_last_share = 1;  // CPU share of the last timed_parallel

template <class F> double timed_parallel(int threads, F &&body) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++)
        pool.emplace_back([&, t] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            body(t);
        });
    while (ready.load() != threads - 1) std::this_thread::yield();
    QkbTimer t;
    go.store(true, std::memory_order_release);
    body(0);
    for (auto &th : pool) th.join();
    double wall = t.wall();
    g_last_share = t.cpu() / (wall * threads);
    return wall;
}

uint64_t int8_loop__scalar(uint64_t iters, uint32_t seed) {
    // Eight independent multiply-add chains; what a CPU without SIMD int8 dot products does.
    uint32_t c[8];
    const uint32_t a = seed | 1u, b = seed * 2654435761u;
    for (int j = 0; j < 8; j++) c[j] = (uint32_t)j;
    for (uint64_t i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) c[j] = c[j] * a + b;
    uint64_t r = 0;
    for (int j = 0; j < 8; j++) r += c[j];
    return r;
}

uint64_t f32_loop__scalar(uint64_t iters, uint32_t seed) {
    float c[8];
    const float a = 0.9999f, b = 1e-3f * (float)(seed & 7) + 1e-3f;
    for (int j = 0; j < 8; j++) c[j] = (float)j;
    for (uint64_t i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) c[j] = c[j] * a + b;
    float r = 0;
    for (int j = 0; j < 8; j++) r += c[j];
    return (uint64_t)r;
}

uint64_t read_sum__scalar(const void *p, size_t bytes) {
    const uint64_t *v = static_cast<const uint64_t *>(p);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0, n = bytes / 8; i + 4 <= n; i += 4) {
        s0 += v[i];
        s1 += v[i + 1];
        s2 += v[i + 2];
        s3 += v[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

bool has(uint64_t bits) { return (qkern_cpu_features() & bits) == bits; }

struct ReadFn {
    const char *isa;
    uint64_t (*fn)(const void *, size_t);
};

ReadFn read_fn() {
#if defined(__x86_64__)
    if (has(QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW)) return {"avx512", qkb_read_sum__avx512};
    if (has(QKERN_CPU_AVX2)) return {"avx2", qkb_read_sum__avx2};
#endif
    return {"scalar", read_sum__scalar};
}

// ---- the probe buffer: rotate_bytes of real data, page-aligned ----------------------------
void *g_buf = nullptr;
size_t g_buf_bytes = 0;
bool g_buf_huge = true;

void *probe_buffer(size_t *bytes) {
    if (!g_buf) {
        qkb_claim_memory(QkbOwner::Probe);
        g_buf_bytes = (qkb_opt.rotate_bytes + 4095) & ~size_t(4095);
        g_buf = qkb_alloc(g_buf_bytes, g_buf_huge);
        if (!g_buf) {
            std::fprintf(stderr, "qkern-bench: cannot allocate the %zu-byte probe buffer\n", g_buf_bytes);
            std::exit(1);
        }
        qkb_fill_bytes(g_buf, g_buf_bytes, 0x5eed);
    }
    *bytes = g_buf_bytes;
    return g_buf;
}

// Slice [lo, hi) of n bytes for thread t of T, 4 KiB aligned so each thread streams whole pages.
void slice(size_t n, int t, int T, size_t *lo, size_t *hi) {
    size_t pages = n / 4096;
    *lo = pages * (size_t)t / (size_t)T * 4096;
    *hi = pages * (size_t)(t + 1) / (size_t)T * 4096;
}

}  // namespace

void qkb_release_probe_buffer() {
    if (g_buf) qkb_free(g_buf, g_buf_bytes);
    g_buf = nullptr;
    g_buf_bytes = 0;
}

QkbProbe qkb_int8_probe() {
#if defined(__x86_64__)
    if (has(QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VNNI))
        return {"avx512vnni (vpdpbusd zmm)", QKB_VNNI_OPS_PER_ITER, qkb_int8_loop__avx512vnni};
    if (has(QKERN_CPU_AVX2))
        return {"avx2 (vpmaddubsw+vpmaddwd ymm)", QKB_AVX2_INT8_OPS_PER_ITER, qkb_int8_loop__avx2};
#endif
    return {"scalar (int32 mul-add)", 8 * 2, int8_loop__scalar};
}

QkbProbe qkb_amx_probe() {
#if defined(QKB_HAVE_AMX)
    if (has(QKERN_CPU_AMX_INT8) && qkb_amx_permitted())
        return {"amx_int8 (tdpbusd 16x16x64)", QKB_AMX_OPS_PER_ITER, qkb_int8_loop__amx};
#endif
    return {"none", 0, nullptr};
}

QkbProbe qkb_bf16_probe() {
#if defined(__x86_64__)
    if (has(QKERN_CPU_AVX512F | QKERN_CPU_AVX512BF16))
        return {"avx512_bf16 (vdpbf16ps zmm)", QKB_BF16_OPS_PER_ITER, qkb_bf16_loop__avx512bf16};
#endif
    return {"none", 0, nullptr};
}

QkbProbe qkb_f32_probe() {
#if defined(__x86_64__)
    if (has(QKERN_CPU_AVX512F)) return {"avx512f (vfmadd zmm)", QKB_AVX512_F32_OPS_PER_ITER, qkb_f32_loop__avx512};
    if (has(QKERN_CPU_AVX2 | QKERN_CPU_FMA)) return {"avx2 (vfmadd ymm)", QKB_AVX2_F32_OPS_PER_ITER, qkb_f32_loop__avx2};
#endif
    return {"scalar (f32 mul-add)", 8 * 2, f32_loop__scalar};
}

double qkb_run_compute_probe(const QkbProbe &p, int threads, double min_seconds, int reps, double *seconds_out,
                             double *share_out) {
    // Calibrate on one thread: each thread then runs the same count, so the timed
    // region is long enough that thread release skew is noise.
    uint64_t iters = 1 << 12;
    double t = 0;
    for (;;) {
        auto t0 = Clock::now();
        g_sink += p.fn(iters, 7);
        t = std::chrono::duration<double>(Clock::now() - t0).count();
        if (t >= 0.01 || iters > (uint64_t(1) << 40)) break;
        iters *= 4;
    }
    iters = (uint64_t)((double)iters * std::max(1.0, min_seconds / t));
    double best = 0, best_s = 0, best_share = 1;
    for (int r = 0; r < reps; r++) {
        double s = timed_parallel(threads, [&](int tid) { g_sink += p.fn(iters, 11u + (uint32_t)tid); });
        double ops = p.ops_per_iter * (double)iters * threads / s;
        if (ops > best) { best = ops; best_s = s; best_share = g_last_share; }
    }
    if (seconds_out) *seconds_out = best_s;
    if (share_out) *share_out = best_share;
    return best;
}

namespace {
// One timed pass: `threads` threads each read (copy) their page-aligned slice of buf.
double read_pass(const unsigned char *buf, size_t n, int threads) {
    ReadFn rf = read_fn();
    return timed_parallel(threads, [&](int tid) {
        size_t lo, hi;
        slice(n, tid, threads, &lo, &hi);
        g_sink += rf.fn(buf + lo, hi - lo);
    });
}
double copy_pass(unsigned char *buf, size_t half, int threads) { // buf[0, half) → buf[half, 2·half)
    return timed_parallel(threads, [&](int tid) {
        size_t lo, hi;
        slice(half, tid, threads, &lo, &hi);
        std::memcpy(buf + half + lo, buf + lo, hi - lo);
    });
}
}  // namespace

double qkb_run_read_probe(int threads, double *seconds_out, double *share_out) {
    size_t n;
    const unsigned char *buf = static_cast<const unsigned char *>(probe_buffer(&n));
    double s = read_pass(buf, n, threads);
    if (seconds_out) *seconds_out = s;
    if (share_out) *share_out = g_last_share;
    return (double)n / s;
}

// The read (copy) ceiling of a memory-bound row's own minute: this host's 2-thread bandwidth moves
// between about 36 and 66 GB/s from one minute to the next (docs/performance.md), so the
// run's one read probe can belong to another mode than a row measured later. Best of
// three passes over a 256 MiB buffer (beyond any L3 here) with the row's thread count,
// kept apart from the probe buffer so that it lives beside the matmul pool.
namespace {
unsigned char *g_beside = nullptr;
const size_t kBesideBytes = size_t(256) << 20;

unsigned char *beside_buffer() {
    if (!g_beside) {
        g_beside = static_cast<unsigned char *>(qkb_alloc(kBesideBytes, true));
        if (g_beside) qkb_fill_bytes(g_beside, kBesideBytes, 0xbe51de);
    }
    return g_beside;
}
}  // namespace

double qkb_read_beside(int threads) {
    const unsigned char *buf = beside_buffer();
    double best = 0;
    for (int rep = 0; buf && rep < 3; rep++) best = std::max(best, (double)kBesideBytes / read_pass(buf, kBesideBytes, threads));
    return best;
}

double qkb_copy_beside(int threads) {
    unsigned char *buf = beside_buffer();
    const size_t half = kBesideBytes / 2;
    double best = 0;
    for (int rep = 0; buf && rep < 3; rep++) best = std::max(best, 2.0 * (double)half / copy_pass(buf, half, threads));
    return best;
}

void qkb_release_beside_buffer() {
    if (g_beside) qkb_free(g_beside, kBesideBytes);
    g_beside = nullptr;
}

double qkb_run_copy_probe(int threads, double *seconds_out, double *share_out) {
    size_t n;
    unsigned char *buf = static_cast<unsigned char *>(probe_buffer(&n));
    size_t half = n / 2 / 4096 * 4096;
    double s = copy_pass(buf, half, threads);
    if (seconds_out) *seconds_out = s;
    if (share_out) *share_out = g_last_share;
    return 2.0 * (double)half / s;
}

const QkbCeilings &QkbRoofline::at(int threads) const {
    const QkbCeilings *best = &rows.front();
    for (const auto &r : rows)
        if (r.threads <= threads && r.threads >= best->threads) best = &r;
    return *best;
}

const QkbRoofline &qkb_roofline() { return g_roof; }

void qkb_roofline_measure() {
    QkbProbe i8 = qkb_int8_probe(), f32 = qkb_f32_probe(), amx = qkb_amx_probe(), bf16 = qkb_bf16_probe();
    g_roof.int8_isa = i8.isa;
    g_roof.f32_isa = f32.isa;
    g_roof.bf16_isa = bf16.isa;
    g_roof.read_isa = read_fn().isa;
    g_roof.rows.clear();
    // DRAM over 4 KiB pages first, in a buffer of its own (pages of an existing mapping
    // are not collapsed into huge pages on the spot).
    g_buf_huge = false;
    std::vector<double> read4k;
    for (int t : qkb_opt.threads) {
        double best = 0;
        for (int r = 0; r < 3; r++) best = std::max(best, qkb_run_read_probe(t, nullptr, nullptr));
        read4k.push_back(best);
    }
    qkb_release_probe_buffer();
    g_buf_huge = true;
    size_t ti = 0;
    for (int t : qkb_opt.threads) {
        QkbCeilings c;
        c.read4k_bps = read4k[ti++];
        c.threads = t;
        double sh[4] = {1, 1, 1, 1};
        c.int8_ops = qkb_run_compute_probe(i8, t, 0.05, 3, nullptr, &sh[0]);
        if (amx.fn) c.amx_ops = qkb_run_compute_probe(amx, t, 0.05, 3, nullptr, nullptr);
        c.f32_ops = qkb_run_compute_probe(f32, t, 0.05, 3, nullptr, &sh[1]);
        if (bf16.fn) c.bf16_ops = qkb_run_compute_probe(bf16, t, 0.05, 3, nullptr, nullptr);
        for (int r = 0; r < 3; r++) {
            double s1, s2;
            double rd = qkb_run_read_probe(t, nullptr, &s1), cp = qkb_run_copy_probe(t, nullptr, &s2);
            if (rd > c.read_bps) { c.read_bps = rd; sh[2] = s1; }
            if (cp > c.copy_bps) { c.copy_bps = cp; sh[3] = s2; }
        }
        c.cpu_share = std::min(std::min(sh[0], sh[1]), std::min(sh[2], sh[3]));
        g_roof.rows.push_back(c);
    }
    qkb_release_probe_buffer();

    char v[64];
    benchmark::AddCustomContext("qk_int8_isa", g_roof.int8_isa);
    benchmark::AddCustomContext("qk_f32_isa", g_roof.f32_isa);
    if (bf16.fn) benchmark::AddCustomContext("qk_bf16_isa", g_roof.bf16_isa);
    benchmark::AddCustomContext("qk_probe_bytes", std::to_string(qkb_opt.rotate_bytes));
    std::string threads_list;
    for (const auto &c : g_roof.rows) {
        std::string t = std::to_string(c.threads);
        threads_list += (threads_list.empty() ? "" : ",") + t;
        std::snprintf(v, sizeof v, "%.4g", c.int8_ops / 1e9);
        benchmark::AddCustomContext("qk_int8_peak_gops_t" + t, v);
        if (c.amx_ops > 0) {
            std::snprintf(v, sizeof v, "%.4g", c.amx_ops / 1e9);
            benchmark::AddCustomContext("qk_amx_int8_peak_gops_t" + t, v);
            std::fprintf(stderr, "roofline threads=%d: amx_int8 %.1f GOPS (tdpbusd)\n", c.threads, c.amx_ops / 1e9);
        }
        std::snprintf(v, sizeof v, "%.4g", c.f32_ops / 1e9);
        benchmark::AddCustomContext("qk_f32_peak_gflops_t" + t, v);
        if (c.bf16_ops > 0) {
            std::snprintf(v, sizeof v, "%.4g", c.bf16_ops / 1e9);
            benchmark::AddCustomContext("qk_bf16_peak_gflops_t" + t, v);
            std::fprintf(stderr, "roofline threads=%d: bf16 %.1f GFLOPS (%s)\n", c.threads, c.bf16_ops / 1e9,
                         g_roof.bf16_isa.c_str());
        }
        std::snprintf(v, sizeof v, "%.4g", c.read_bps / 1e9);
        benchmark::AddCustomContext("qk_read_gbs_t" + t, v);
        std::snprintf(v, sizeof v, "%.4g", c.copy_bps / 1e9);
        benchmark::AddCustomContext("qk_copy_gbs_t" + t, v);
        std::snprintf(v, sizeof v, "%.4g", c.read4k_bps / 1e9);
        benchmark::AddCustomContext("qk_read4k_gbs_t" + t, v);
        std::snprintf(v, sizeof v, "%.2f", c.cpu_share);
        benchmark::AddCustomContext("qk_probe_cpu_share_t" + t, v);
        std::fprintf(stderr, "roofline threads=%d: int8 %.1f GOPS (%s), f32 %.1f GFLOPS (%s), read %.2f GB/s (4 KiB pages: %.2f), copy %.2f GB/s\n",
                     c.threads, c.int8_ops / 1e9, g_roof.int8_isa.c_str(), c.f32_ops / 1e9, g_roof.f32_isa.c_str(),
                     c.read_bps / 1e9, c.read4k_bps / 1e9, c.copy_bps / 1e9);
        if (c.cpu_share < 0.9)
            std::fprintf(stderr, "warning: the probes got only %.0f%% of %d core(s): other processes are running, "
                                 "so these ceilings (and every fraction of them) understate the machine\n",
                         100 * c.cpu_share, c.threads);
    }
    benchmark::AddCustomContext("qk_threads", threads_list);
}

double qkb_roof_bound(QkbPeak peak, int threads, double ops, double bytes) {
    const QkbCeilings &c = g_roof.at(threads);
    double p = peak == QkbPeak::Int8                   ? c.int8_ops
               : peak == QkbPeak::Bf16 && c.bf16_ops > 0 ? c.bf16_ops
                                                         : c.f32_ops;
    return std::min(p, c.read_bps * ops / bytes);
}

void qkb_cpu_counter(benchmark::State &st, int threads, const QkbTimer &t) {
    st.counters["cpu_pct"] = 100.0 * t.cpu() / (t.wall() * threads);
}

void qkb_matmul_counters(benchmark::State &st, QkbPeak peak, int threads, int64_t m, int64_t n, int64_t k,
                         double bytes, const QkbTimer &t) {
    const double seconds = t.wall();
    const double ops = 2.0 * (double)m * (double)n * (double)k;
    const double iters = (double)st.iterations();
    const double gops = ops * iters / seconds / 1e9;
    const double roof = qkb_roof_bound(peak, threads, ops, bytes) / 1e9;
    st.counters["GOPS"] = gops;
    st.counters["GB/s"] = bytes * iters / seconds / 1e9;
    st.counters["roof_GOPS"] = roof;
    st.counters["roof_pct"] = 100.0 * gops / roof;
    st.counters["AI"] = ops / bytes;
    st.counters["M"] = (double)m;
    st.counters["N"] = (double)n;
    st.counters["K"] = (double)k;
    st.counters["threads"] = threads;
    qkb_cpu_counter(st, threads, t);
}

// ---- the probes as benchmarks (the JSON carries their rows too) ---------------------------

static void bm_compute(benchmark::State &st, int kind, int threads) { // 0 int8, 1 f32, 2 AMX, 3 BF16
    QkbProbe p = kind == 0 ? qkb_int8_probe() : kind == 1 ? qkb_f32_probe() : kind == 2 ? qkb_amx_probe() : qkb_bf16_probe();
    double ops_total = 0, secs_total = 0, min_share = 1;
    for (auto _ : st) {
        double s, share;
        double ops = qkb_run_compute_probe(p, threads, 0.05, 1, &s, &share);
        min_share = std::min(min_share, share);
        st.SetIterationTime(s);
        ops_total += ops * s;
        secs_total += s;
    }
    st.SetLabel(p.isa);
    st.counters["GOPS"] = ops_total / secs_total / 1e9;
    st.counters["threads"] = threads;
    st.counters["cpu_pct"] = 100 * min_share;
}

static void bm_bandwidth(benchmark::State &st, bool copy, int threads) {
    double bytes_total = 0, secs_total = 0, min_share = 1;
    for (auto _ : st) {
        double s, share;
        double bps = copy ? qkb_run_copy_probe(threads, &s, &share) : qkb_run_read_probe(threads, &s, &share);
        min_share = std::min(min_share, share);
        st.SetIterationTime(s);
        bytes_total += bps * s;
        secs_total += s;
    }
    st.SetLabel(copy ? "memcpy, read + written bytes" : read_fn().isa);
    st.counters["GB/s"] = bytes_total / secs_total / 1e9;
    st.counters["threads"] = threads;
    st.counters["cpu_pct"] = 100 * min_share;
}

void qkb_register_roofline() {
    for (int t : qkb_opt.threads) {
        std::string ts = "/threads:" + std::to_string(t);
        benchmark::RegisterBenchmark(("roofline/int8_peak" + ts).c_str(), bm_compute, 0, t)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("roofline/f32_peak" + ts).c_str(), bm_compute, 1, t)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
        if (qkb_amx_probe().fn)
            benchmark::RegisterBenchmark(("roofline/amx_int8_peak" + ts).c_str(), bm_compute, 2, t)
                ->UseManualTime()->Unit(benchmark::kMillisecond);
        if (qkb_bf16_probe().fn)
            benchmark::RegisterBenchmark(("roofline/bf16_peak" + ts).c_str(), bm_compute, 3, t)
                ->UseManualTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("roofline/read_bw" + ts).c_str(), bm_bandwidth, false, t)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("roofline/copy_bw" + ts).c_str(), bm_bandwidth, true, t)
            ->UseManualTime()->Unit(benchmark::kMillisecond);
    }
}
