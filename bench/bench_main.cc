// qkern-bench: Google Benchmark over quantize, dequantize and every matmul mode on
// every backend, with the machine's roofline measured in the same run and peer
// libraries beside them. Usage and counters: docs/performance.md.
//
//   qkern-bench [--qk_quick] [--qk_backends=scalar,x86] [--qk_threads=1,2] [--qk_peers=0]
//               [--qk_rotate_mib=1024] [any --benchmark_* flag]
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "bench/qkb.h"

QkbOptions qkb_opt;

// ---- memory ownership ----------------------------------------------------------------------

static QkbOwner g_owner = QkbOwner::None;

void qkb_claim_memory(QkbOwner who) {
    if (g_owner == who) return;
    if (who != QkbOwner::Probe) qkb_release_probe_buffer();
    if (who != QkbOwner::Matmul) qkb_release_matmul_pool();
    if (who != QkbOwner::Quant) qkb_release_quant_buffers();
#if defined(QKB_HAVE_ONEDNN)
    if (who != QkbOwner::OneDNN) qkb_release_onednn();
#endif
#if defined(QKB_HAVE_OPENBLAS)
    if (who != QkbOwner::OpenBLAS) qkb_release_openblas();
#endif
#if defined(QKB_HAVE_CLBLAST)
    if (who != QkbOwner::CLBlast) qkb_release_clblast();
#endif
    g_owner = who;
}

void *qkb_alloc(size_t bytes, bool huge) {
    size_t len = (bytes + 4095) & ~size_t(4095);
    void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    (void)huge;
#if defined(MADV_HUGEPAGE)
    // Fewer TLB misses on a 1 GiB stream: the ceiling should be what the memory system
    // can do, not what 4 KiB pages allow. Ignored where transparent huge pages are off.
    if (huge) madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

void qkb_free(void *p, size_t bytes) {
    if (p) munmap(p, (bytes + 4095) & ~size_t(4095));
}

size_t qkb_rotation_count(size_t bytes_each, int64_t m) {
    if (m > 8 || bytes_each == 0) return 1;
    return std::max<size_t>(1, (qkb_opt.rotate_bytes + bytes_each - 1) / bytes_each);
}

// ---- data -------------------------------------------------------------------------------------

namespace {
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    // Sum of four uniforms, scaled to unit variance: cheap, bounded (|x| < 3.5), bell-shaped.
    float normalish() {
        uint64_t r = next();
        float a = (float)(r & 0xffff) + (float)((r >> 16) & 0xffff) + (float)((r >> 32) & 0xffff) + (float)(r >> 48);
        return (a / 65535.0f - 2.0f) * 1.7320508f;
    }
};
}  // namespace

void qkb_fill_activations(float *x, int64_t rows, int64_t cols, uint64_t seed) {
    Rng r(seed);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) x[i * cols + j] = r.normalish() * (j % 512 == 7 ? 12.0f : 1.0f);
}

void qkb_fill_weights(float *w, size_t n, uint64_t seed) {
    Rng r(seed);
    for (size_t i = 0; i < n; i++) w[i] = r.normalish() * ((i & 1023) == 5 ? 0.2f : 0.02f);
}

void qkb_fill_bytes(void *p, size_t n, uint64_t seed) {
    Rng r(seed);
    uint64_t *q = static_cast<uint64_t *>(p);
    for (size_t i = 0; i < n / 8; i++) q[i] = r.next();
    unsigned char *c = static_cast<unsigned char *>(p);
    for (size_t i = n / 8 * 8; i < n; i++) c[i] = (unsigned char)r.next();
}

std::string qkb_lower(std::string s) {
    for (auto &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}

// ---- shapes ----------------------------------------------------------------------------------

std::vector<QkbCase> qkb_matmul_cases() {
    const QkbShape sq{4096, 4096}, up{11008, 4096}, down{4096, 11008};
    if (qkb_opt.quick) return {{1, sq}, {128, sq}};
    std::vector<QkbCase> out;
    for (const QkbShape &s : {sq, up, down})
        for (int64_t m : {1, 8, 128, 512}) out.push_back({m, s});
    return out;
}

std::vector<int> qkb_threads_for(const QkbCase &c) {
    int most = *std::max_element(qkb_opt.threads.begin(), qkb_opt.threads.end());
    bool key = c.s.n == 4096 && c.s.k == 4096 && (!qkb_opt.quick || c.m == 1);
    if (key) return qkb_opt.threads;
    return {most};
}

std::vector<int> qkb_backend_threads(const std::string &backend, std::vector<int> wanted) {
    if (backend == "opencl" && wanted.size() > 1) return {*std::max_element(wanted.begin(), wanted.end())};
    return wanted;
}

// ---- contexts -------------------------------------------------------------------------------

namespace {
struct CtxSlot {
    qkern_context *ctx = nullptr;
    std::string why;
};
std::map<std::pair<std::string, int>, CtxSlot> g_ctx;
}  // namespace

qkern_context *qkb_context(const std::string &backend, int threads, std::string *why) {
    auto key = std::make_pair(backend, threads);
    auto it = g_ctx.find(key);
    if (it == g_ctx.end()) {
        CtxSlot s;
        qkern_context_options o;
        qkern_context_options_init(&o);
        o.backend = backend.c_str();
        o.threads = threads;
        qkern_status st = qkern_context_create(&o, &s.ctx);
        if (st != QKERN_OK) {
            s.why = std::string(qkern_status_name(st)) + ": " + qkern_last_error();
            s.ctx = nullptr;
        } else if (backend != qkern_context_backend(s.ctx)) {
            // QKERN_BACKEND overrides the option; a row labelled x86 must not run scalar.
            s.why = std::string("the context runs \"") + qkern_context_backend(s.ctx) + "\" (QKERN_BACKEND is set)";
            qkern_context_destroy(s.ctx);
            s.ctx = nullptr;
        }
        it = g_ctx.emplace(key, s).first;
    }
    if (why) *why = it->second.why;
    return it->second.ctx;
}

void qkb_destroy_contexts() {
    for (auto &kv : g_ctx) qkern_context_destroy(kv.second.ctx);
    g_ctx.clear();
}

bool qkb_describe_kernel(qkern_context *ctx, const char *op, const char *format_name, std::string *backend,
                         std::string *kernel) {
    size_t need = 0;
    if (qkern_context_describe(ctx, nullptr, 0, &need) != QKERN_OK || need == 0) return false;
    std::string text(need, '\0');
    if (qkern_context_describe(ctx, &text[0], need, nullptr) != QKERN_OK) return false;
    // Sections are "<op>:" lines; entries "  <FORMAT> -> <backend> <kernel>".
    std::string section = std::string(op) + ":";
    size_t pos = 0;
    bool in = false;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (!line.empty() && line[0] != ' ') {
            in = line == section;
            continue;
        }
        if (!in) continue;
        size_t a = line.find_first_not_of(' ');
        size_t arrow = line.find("->");
        if (a == std::string::npos || arrow == std::string::npos) continue;
        std::string name = line.substr(a, line.find(' ', a) - a);
        if (name != format_name) continue;
        char b[64] = {0}, k[160] = {0};
        if (std::sscanf(line.c_str() + arrow + 2, " %63s %159s", b, k) != 2) return false;
        *backend = b;
        *kernel = k;
        return true;
    }
    return false;
}

// ---- options ---------------------------------------------------------------------------------

static std::vector<std::string> split(const std::string &s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t c = s.find(',', p);
        if (c == std::string::npos) c = s.size();
        if (c > p) out.push_back(s.substr(p, c - p));
        p = c + 1;
    }
    return out;
}

static bool take_flag(const char *arg, const char *name, std::string *value) {
    size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0) return false;
    if (arg[n] == '\0') { *value = "1"; return true; }
    if (arg[n] != '=') return false;
    *value = arg + n + 1;
    return true;
}

static void usage_error(const char *arg) {
    std::fprintf(stderr, "qkern-bench: bad option %s\n"
                         "  --qk_quick  --qk_backends=scalar,x86,neon,opencl  --qk_threads=1,2\n"
                         "  --qk_peers=0|1  --qk_rotate_mib=N  --qk_onednn_isa=AVX512_CORE_VNNI|ALL\n"
                         "  (and every --benchmark_* flag)\n", arg);
    std::exit(2);
}

static void parse_options(int *argc, char **argv) {
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        std::string v;
        const char *a = argv[i];
        if (take_flag(a, "--qk_quick", &v)) {
            qkb_opt.quick = v != "0";
        } else if (take_flag(a, "--qk_peers", &v)) {
            qkb_opt.peers = v != "0";
        } else if (take_flag(a, "--qk_onednn_isa", &v)) {
            if (v.empty()) usage_error(a);
            qkb_opt.onednn_isa = v;
        } else if (take_flag(a, "--qk_backends", &v)) {
            qkb_opt.backends = split(qkb_lower(v));
            if (qkb_opt.backends.empty()) usage_error(a);
        } else if (take_flag(a, "--qk_threads", &v)) {
            qkb_opt.threads.clear();
            for (const auto &t : split(v)) {
                int n = std::atoi(t.c_str());
                if (n < 1 || n > 1024) usage_error(a);
                qkb_opt.threads.push_back(n);
            }
            if (qkb_opt.threads.empty()) usage_error(a);
        } else if (take_flag(a, "--qk_rotate_mib", &v)) {
            long mib = std::atol(v.c_str());
            if (mib < 1) usage_error(a);
            qkb_opt.rotate_bytes = (size_t)mib << 20;
            if (mib < 1024)
                std::fprintf(stderr, "qkern-bench: --qk_rotate_mib=%ld is below 1 GiB: decode rows and the bandwidth "
                                     "probes may measure the cache, not DRAM\n", mib);
        } else if (std::strncmp(a, "--qk_", 5) == 0) {
            usage_error(a);
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = nullptr;
    if (qkb_opt.threads.empty()) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        qkb_opt.threads.push_back(1);
        if (n > 1) qkb_opt.threads.push_back((int)std::min<long>(n, 1024));
    }
    std::sort(qkb_opt.threads.begin(), qkb_opt.threads.end());
    qkb_opt.threads.erase(std::unique(qkb_opt.threads.begin(), qkb_opt.threads.end()), qkb_opt.threads.end());
}

int main(int argc, char **argv) {
    parse_options(&argc, argv);
    // Peer runtimes (oneDNN's OpenMP, OpenBLAS's pthreads) must not spin on the two
    // cores while qkern's own pool is being timed.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
#if defined(QKB_HAVE_ONEDNN)
    if (qkb_opt.peers) qkb_onednn_init();
#endif
#if defined(QKB_HAVE_OPENBLAS)
    if (qkb_opt.peers) qkb_openblas_init();
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    char feat[512] = "";
    for (int b = 0; b < 64; b++) {
        const char *n = (qkern_cpu_features() >> b) & 1 ? qkern_cpu_feature_name(1ull << b) : nullptr;
        if (n) std::snprintf(feat + std::strlen(feat), sizeof feat - std::strlen(feat), "%s%s", feat[0] ? " " : "", n);
    }
    benchmark::AddCustomContext("qk_version", qkern_version());
    benchmark::AddCustomContext("qk_cpu_features", feat);
    benchmark::AddCustomContext("qk_mode", qkb_opt.quick ? "quick" : "full");
    std::string backends;
    for (const auto &b : qkb_opt.backends) {
        std::string why;
        qkern_context *c = qkb_context(b, 1, &why);
        backends += (backends.empty() ? "" : "; ") + b + (c ? " available" : " unavailable (" + why + ")");
    }
    benchmark::AddCustomContext("qk_backends", backends);
    std::fprintf(stderr, "qkern %s, cpu: %s\nbackends: %s\n", qkern_version(), feat, backends.c_str());

    qkb_roofline_measure();
    qkb_register_roofline();
    qkb_register_quant();
    qkb_register_matmul();
#if defined(QKB_HAVE_ONEDNN)
    if (qkb_opt.peers) qkb_register_onednn();
#endif
#if defined(QKB_HAVE_OPENBLAS)
    if (qkb_opt.peers) qkb_register_openblas();
#endif
#if defined(QKB_HAVE_CLBLAST)
    if (qkb_opt.peers && std::find(qkb_opt.backends.begin(), qkb_opt.backends.end(), "opencl") != qkb_opt.backends.end())
        qkb_register_clblast();
#endif
    benchmark::RunSpecifiedBenchmarks();
    qkb_claim_memory(QkbOwner::None);
    qkb_destroy_contexts();
    benchmark::Shutdown();
    return 0;
}
