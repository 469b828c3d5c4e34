// qkern-bench: shared declarations of the benchmark binary (options, roofline,
// contexts, big-buffer ownership, data generation). docs/performance.md describes
// the method; this header is internal to bench/.
#ifndef QKB_H
#define QKB_H

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "qkern/qkern.h"

struct QkbOptions {
    bool quick = false;            // --qk_quick: the short set ci/report.sh runs
    bool peers = true;             // --qk_peers=0 leaves oneDNN / OpenBLAS out
    std::vector<std::string> backends{"scalar", "x86", "neon", "opencl"};  // --qk_backends=a,b
    std::vector<int> threads;      // --qk_threads=1,2 (default: 1 and the online cores)
    size_t rotate_bytes = size_t(1) << 30;  // --qk_rotate_mib: weights cycled through at M <= 8
    std::string onednn_isa = "AVX512_CORE_VNNI"; // --qk_onednn_isa: oneDNN's ISA cap ("ALL": AMX too)
};
extern QkbOptions qkb_opt;


// Wall and process-CPU time of a timed region. cpu / (wall × threads) well below 1 means
// other processes took the cores and the figure is not the kernel's.
struct QkbTimer {
    double wall0, cpu0;
    QkbTimer();
    double wall() const;
    double cpu() const;
};
double qkb_process_cpu_seconds();

// ---- roofline --------------------------------------------------------------------------
// The machine's own ceilings, measured at start-up for every thread count in qkb_opt.threads.
struct QkbCeilings {
    int threads = 0;
    double int8_ops = 0;   // int8 dot-product ops/s (1 MAC = 2 ops)
    double amx_ops = 0;    // the AMX-INT8 tile unit's ops/s (0: no AMX)
    double f32_ops = 0;    // f32 FMA flops/s (1 FMA = 2 flops)
    double bf16_ops = 0;   // BF16 dot-product flops/s (vdpbf16ps; 0: no AVX512_BF16)
    double read_bps = 0;   // bytes/s streaming reads from DRAM (huge pages advised: the machine's best)
    double read4k_bps = 0; // the same over 4 KiB pages (what malloc'd memory gets when THP is "madvise")
    double copy_bps = 0;   // bytes/s copy, read + written bytes counted (STREAM convention)
    double cpu_share = 1;  // lowest CPU share (process CPU / (wall × threads)) of the runs kept
};
struct QkbRoofline {
    std::string int8_isa, f32_isa, bf16_isa, read_isa;
    std::vector<QkbCeilings> rows;
    // Ceilings for `threads` (the nearest measured thread count at or below it).
    const QkbCeilings &at(int threads) const;
};
void qkb_roofline_measure();
const QkbRoofline &qkb_roofline();

// Bf16: the BF16 dot-product peak where the CPU has one (the FP8 × FP8 kernels' products
// are exact in it), else the f32 FMA peak.
enum class QkbPeak { Int8, F32, Bf16 };
// The roofline bound in ops/s for a kernel doing `ops` operations over `bytes` of
// DRAM traffic on `threads` threads: min(peak, read bandwidth × ops / bytes).
double qkb_roof_bound(QkbPeak peak, int threads, double ops, double bytes);
// Sets GOPS (2·m·n·k per iteration), GB/s (`bytes` per iteration), roof_GOPS (the bound
// above), roof_pct, AI (ops per byte), M, N, K and threads on a run of st.iterations()
// iterations that took `seconds` of wall time.
// cpu_pct is set from t: the process CPU time over wall × threads.
void qkb_matmul_counters(benchmark::State &st, QkbPeak peak, int threads, int64_t m, int64_t n, int64_t k,
                         double bytes, const QkbTimer &t);
void qkb_cpu_counter(benchmark::State &st, int threads, const QkbTimer &t);

// Probe loops (roofline.cc dispatches on qkern_cpu_features()).
struct QkbProbe {
    const char *isa;
    double ops_per_iter;                     // ops one call of fn does per `iters`
    uint64_t (*fn)(uint64_t iters, uint32_t seed);
};
QkbProbe qkb_int8_probe();
// The AMX-INT8 probe; fn == nullptr where the CPU, the compiler or the OS lacks it.
QkbProbe qkb_amx_probe();
QkbProbe qkb_f32_probe();
QkbProbe qkb_bf16_probe(); // fn == nullptr where the CPU has no AVX512_BF16
// Ops/s of `p` on `threads` threads, best of `reps`, each rep at least min_seconds.
// share_out: process CPU / (wall × threads) of the kept run.
double qkb_run_compute_probe(const QkbProbe &p, int threads, double min_seconds, int reps, double *seconds_out,
                             double *share_out);
// Bytes/s of one pass over the probe buffer (read) or half of it into the other half (copy).
double qkb_run_read_probe(int threads, double *seconds_out, double *share_out);
// Read bandwidth (bytes/s) right now with `threads` threads over a buffer of its own: the
// ceiling beside a memory-bound row (bench_matmul.cc); 0 if it cannot allocate.
double qkb_read_beside(int threads);
double qkb_copy_beside(int threads); // the same for copy (read + write), beside a dequantize row
void qkb_release_beside_buffer();
double qkb_run_copy_probe(int threads, double *seconds_out, double *share_out);
void qkb_register_roofline();

// ---- big buffers ------------------------------------------------------------------------
// Several benchmark families each need ~1 GiB (probe buffer, rotated weights, peers' weights).
// Only one may hold its memory at a time: claiming releases every other owner.
enum class QkbOwner { None, Probe, Matmul, OneDNN, OpenBLAS, CLBlast, Quant };
void qkb_claim_memory(QkbOwner who);
void qkb_release_probe_buffer();
void qkb_release_matmul_pool();
void qkb_release_quant_buffers();
void qkb_release_onednn();
void qkb_release_openblas();
void qkb_release_clblast();

// Number of weight copies to cycle through at m: ≥ rotate_bytes in total for m ≤ 8
// (decode GEMV must stream from DRAM, not the LLC), else 1.
size_t qkb_rotation_count(size_t bytes_each, int64_t m);

// ---- contexts ---------------------------------------------------------------------------
// A context for backend × threads, created once. NULL with *why set if the backend cannot run.
qkern_context *qkb_context(const std::string &backend, int threads, std::string *why);
void qkb_destroy_contexts();
// The backend and kernel a context uses for op ("quantize", "dequantize") × format, read
// from qkern_context_describe. False if the description does not say.
bool qkb_describe_kernel(qkern_context *ctx, const char *op, const char *format_name, std::string *backend,
                         std::string *kernel);
void qkb_register_quant();
void qkb_register_matmul();
#if defined(QKB_HAVE_ONEDNN)
void qkb_onednn_init();  // sets ONEDNN_MAX_CPU_ISA before any oneDNN call, records the effective ISA
void qkb_register_onednn();
#endif
#if defined(QKB_HAVE_OPENBLAS)
void qkb_openblas_init();
void qkb_register_openblas();
#endif
#if defined(QKB_HAVE_CLBLAST)
void qkb_register_clblast();  // registered when the opencl backend is among the benchmarked ones
#endif

// ---- shapes and data ----------------------------------------------------------------------
struct QkbShape { int64_t n, k; };
struct QkbCase { int64_t m; QkbShape s; };
// (M, N, K) to run, grouped by (N, K) with M ascending (so a rotated weight pool built for
// M = 1 serves the larger M of the same shape). Full: M ∈ {1, 8, 128, 512} × (N, K) ∈
// {(4096, 4096), (11008, 4096), (4096, 11008)}; quick: M ∈ {1, 128} at 4096 × 4096.
std::vector<QkbCase> qkb_matmul_cases();
// Thread counts to run a case at: every count for the key shape (N = K = 4096), the largest otherwise.
std::vector<int> qkb_threads_for(const QkbCase &c);
// The thread counts a backend's rows run at: all of `wanted` for CPU backends; only the
// largest for OpenCL, whose device (PoCL on a CPU) runs its own threads on every core
// whatever the context's thread count says.
std::vector<int> qkb_backend_threads(const std::string &backend, std::vector<int> wanted);
// Deterministic LLM-like data: roughly N(0,1), and every 512th column ×12 (outlier features,
// which LLM.int8() routes through its float path).
void qkb_fill_activations(float *x, int64_t rows, int64_t cols, uint64_t seed);
// Weight-like data: roughly N(0, 0.02²) with rare larger values.
void qkb_fill_weights(float *w, size_t n, uint64_t seed);
// Touch-and-fill an arbitrary byte buffer with pseudo-random bytes (never the zero page).
void qkb_fill_bytes(void *p, size_t n, uint64_t seed);
// Page-aligned allocation, madvise'd for huge pages where the OS allows unless huge is
// false; free with qkb_free.
void *qkb_alloc(size_t bytes, bool huge = true);
void qkb_free(void *p, size_t bytes);

std::string qkb_lower(std::string s);

#endif
