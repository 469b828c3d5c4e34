// Peer: oneDNN's int8 matmul (u8 activations × s8 weights → f32 with per-column output
// scales, i.e. W8A8 with the activations already quantised) at the same shapes and
// thread counts, weights reordered once into oneDNN's preferred layout (its "pack") and
// rotated through ≥ 1 GiB at M ≤ 8 exactly like qkern's.
//
// ONEDNN_MAX_CPU_ISA is capped at AVX512_CORE_VNNI before the first oneDNN call, and
// the effective ISA is printed, so an AMX machine never silently compares AMX tiles
// against qkern's VNNI kernels.
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "oneapi/dnnl/dnnl.h"

#include "bench/qkb.h"

namespace {

std::string g_isa = "unknown";

const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "unknown";
    }
}

#define QKB_DNNL(call)                                                                   \
    do {                                                                                 \
        dnnl_status_t qkb_s_ = (call);                                                   \
        if (qkb_s_ != dnnl_success) {                                                    \
            std::snprintf(err, sizeof err, "%s failed: dnnl status %d", #call, (int)qkb_s_); \
            return false;                                                                \
        }                                                                                \
    } while (0)

// One primitive (for M, N, K, threads) and the packed weight copies it runs over.
struct State {
    std::string key, wkey;
    dnnl_engine_t eng = nullptr;
    dnnl_stream_t stream = nullptr;
    dnnl_primitive_desc_t pd = nullptr;
    dnnl_primitive_t prim = nullptr;
    dnnl_memory_t src = nullptr, dst = nullptr;
    std::vector<dnnl_memory_t> w;   // packed weights (oneDNN-allocated)
    dnnl_memory_desc_t w_md{};      // their layout
    std::string impl;
    std::vector<float> scales;
    std::string error;
};
State g;

void destroy_prim() {
    if (g.prim) dnnl_primitive_destroy(g.prim);
    if (g.pd) dnnl_primitive_desc_destroy(g.pd);
    if (g.src) dnnl_memory_destroy(g.src);
    if (g.dst) dnnl_memory_destroy(g.dst);
    g.prim = nullptr;
    g.pd = nullptr;
    g.src = g.dst = nullptr;
    g.key.clear();
}

void destroy_weights() {
    for (auto m : g.w) dnnl_memory_destroy(m);
    g.w.clear();
    g.wkey.clear();
}

char err[256];

bool make_prim(int64_t m, int64_t n, int64_t k, int threads) {
    if (!g.eng) {
        QKB_DNNL(dnnl_engine_create(&g.eng, dnnl_cpu, 0));
        QKB_DNNL(dnnl_stream_create(&g.stream, g.eng, dnnl_stream_default_flags));
    }
    destroy_prim();
    // oneDNN sizes its partitioning from the OpenMP thread count at creation.
    omp_set_num_threads(threads);
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n};
    dnnl_memory_desc_t src_md, w_any, dst_md;
    QKB_DNNL(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_u8, dnnl_ab));
    QKB_DNNL(dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dnnl_s8, dnnl_format_tag_any));
    QKB_DNNL(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    QKB_DNNL(dnnl_matmul_desc_init(&md, &src_md, &w_any, nullptr, &dst_md));
    dnnl_primitive_attr_t attr;
    QKB_DNNL(dnnl_primitive_attr_create(&attr));
    g.scales.assign((size_t)n, 0.01f);
    dnnl_status_t s = dnnl_primitive_attr_set_output_scales(attr, n, 1 << 1, g.scales.data());
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&g.pd, &md, attr, g.eng, nullptr);
    dnnl_primitive_attr_destroy(attr);
    QKB_DNNL(s);
    QKB_DNNL(dnnl_primitive_create(&g.prim, g.pd));
    const char *impl = nullptr;
    if (dnnl_primitive_desc_query(g.pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) g.impl = impl;
    QKB_DNNL(dnnl_memory_create(&g.src, &src_md, g.eng, DNNL_MEMORY_ALLOCATE));
    QKB_DNNL(dnnl_memory_create(&g.dst, &dst_md, g.eng, DNNL_MEMORY_ALLOCATE));
    void *h = nullptr;
    QKB_DNNL(dnnl_memory_get_data_handle(g.src, &h));
    qkb_fill_bytes(h, (size_t)(m * k), 5);
    QKB_DNNL(dnnl_memory_get_data_handle(g.dst, &h));
    qkb_fill_bytes(h, (size_t)(m * n) * sizeof(float), 6);
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(g.pd, dnnl_query_weights_md, 0);
    if (!g.w.empty() && !dnnl_memory_desc_equal(wq, &g.w_md)) destroy_weights();
    g.w_md = *wq;
    return true;
}

// Weights: N×K row-major s8 (oneDNN's K×N with tag ba), reordered into the primitive's layout.
bool make_weights(int64_t n, int64_t k, size_t count) {
    dnnl_dims_t wd = {k, n};
    dnnl_memory_desc_t user_md;
    QKB_DNNL(dnnl_memory_desc_init_by_tag(&user_md, 2, wd, dnnl_s8, dnnl_ba));
    std::vector<int8_t> user((size_t)(n * k));
    dnnl_memory_t um;
    QKB_DNNL(dnnl_memory_create(&um, &user_md, g.eng, user.data()));
    dnnl_primitive_desc_t rpd = nullptr;
    dnnl_primitive_t r = nullptr;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, &user_md, g.eng, &g.w_md, g.eng, nullptr);
    if (s == dnnl_success) s = dnnl_primitive_create(&r, rpd);
    while (s == dnnl_success && g.w.size() < count) {
        // Each copy gets its own bytes: identical pages could in principle be merged.
        qkb_fill_bytes(user.data(), user.size(), 300 + g.w.size());
        dnnl_memory_t wm;
        s = dnnl_memory_create(&wm, &g.w_md, g.eng, DNNL_MEMORY_ALLOCATE);
        if (s != dnnl_success) break;
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, um}, {DNNL_ARG_TO, wm}};
        s = dnnl_primitive_execute(r, g.stream, 2, args);
        if (s == dnnl_success) s = dnnl_stream_wait(g.stream);
        g.w.push_back(wm);
    }
    if (r) dnnl_primitive_destroy(r);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(um);
    QKB_DNNL(s);
    return true;
}

void skip(benchmark::State &st, const std::string &msg) {
    st.SetLabel(msg);
    st.SkipWithError(msg.c_str());
}

void bm_onednn(benchmark::State &st, QkbCase c, int threads) {
    qkb_claim_memory(QkbOwner::OneDNN);
    std::string key = std::to_string(c.m) + "x" + std::to_string(c.s.n) + "x" + std::to_string(c.s.k) + "t" +
                      std::to_string(threads);
    if (g.key != key) {
        if (!make_prim(c.m, c.s.n, c.s.k, threads)) return skip(st, err);
        g.key = key;
    }
    const size_t wbytes = (size_t)(c.s.n * c.s.k);
    const size_t count = qkb_rotation_count(wbytes, c.m);
    std::string wkey = std::to_string(c.s.n) + "x" + std::to_string(c.s.k);
    if (g.wkey != wkey) destroy_weights();
    g.wkey = wkey;
    if (g.w.size() < count && !make_weights(c.s.n, c.s.k, count)) return skip(st, err);
    omp_set_num_threads(threads);
    const size_t rot = c.m <= 8 ? g.w.size() : 1;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, g.src}, {DNNL_ARG_WEIGHTS, g.w[0]}, {DNNL_ARG_DST, g.dst}};
    if (dnnl_primitive_execute(g.prim, g.stream, 3, args) != dnnl_success || dnnl_stream_wait(g.stream) != dnnl_success)
        return skip(st, "dnnl_primitive_execute failed");
    size_t i = 0;
    QkbTimer timer;
    for (auto _ : st) {
        args[1].memory = g.w[i];
        dnnl_primitive_execute(g.prim, g.stream, 3, args);
        dnnl_stream_wait(g.stream);
        if (++i == rot) i = 0;
    }
    const double bytes = (double)wbytes + (double)(c.m * c.s.k);
    qkb_matmul_counters(st, QkbPeak::Int8, threads, c.m, c.s.n, c.s.k, bytes, timer);
    st.counters["rotated_MiB"] = (double)(rot * wbytes) / (1 << 20);
    st.SetLabel("oneDNN " + g_isa + " " + g.impl);
}

}  // namespace

void qkb_release_onednn() {
    destroy_prim();
    destroy_weights();
    if (g.stream) dnnl_stream_destroy(g.stream);
    if (g.eng) dnnl_engine_destroy(g.eng);
    g.stream = nullptr;
    g.eng = nullptr;
}

void qkb_onednn_init() {
    const char *cap = qkb_opt.onednn_isa.c_str();
    setenv("ONEDNN_MAX_CPU_ISA", cap, 1);
    setenv("DNNL_MAX_CPU_ISA", cap, 1);
    g_isa = isa_name(dnnl_get_effective_cpu_isa());
    const dnnl_version_t *v = dnnl_version();
    char ver[64];
    std::snprintf(ver, sizeof ver, "%d.%d.%d", v->major, v->minor, v->patch);
    benchmark::AddCustomContext("onednn_version", ver);
    benchmark::AddCustomContext("onednn_effective_isa", g_isa);
    std::fprintf(stderr, "oneDNN %s, effective ISA %s (ONEDNN_MAX_CPU_ISA=%s)\n", ver, g_isa.c_str(), cap);
}

void qkb_register_onednn() {
    for (const QkbCase &c : qkb_matmul_cases())
        for (int t : qkb_threads_for(c)) {
            std::string name = "peer/onednn/w=s8/a=u8/M:" + std::to_string(c.m) + "/N:" + std::to_string(c.s.n) +
                               "/K:" + std::to_string(c.s.k) + "/threads:" + std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(), bm_onednn, c, t)->UseRealTime()->Unit(benchmark::kMillisecond);
        }
}
