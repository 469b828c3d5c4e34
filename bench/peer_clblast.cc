// Peer for the OpenCL rows: CLBlast's sgemm (Y = X·Wᵀ, f32 weights in cl_mem buffers)
// on the first OpenCL device found — PoCL's CPU device on a machine without a GPU —
// at the same shapes, weights rotated through ≥ 1 GiB of buffers at M ≤ 8.
#include <CL/cl.h>
#include <clblast_c.h>

#include <cstdio>

#include "bench/qkb.h"

namespace {

struct Cl {
    bool tried = false;
    std::string why;  // set if no device
    cl_context ctx = nullptr;
    cl_command_queue q = nullptr;
    std::string device;
};
Cl g_cl;

struct Pool {
    int64_t n = 0, k = 0;
    std::vector<cl_mem> w;
};
Pool g;

bool open_cl() {
    if (g_cl.tried) return g_cl.ctx != nullptr;
    g_cl.tried = true;
    cl_uint np = 0;
    cl_platform_id plats[8];
    cl_int e = clGetPlatformIDs(8, plats, &np);
    if (e != CL_SUCCESS || np == 0) {
        g_cl.why = "no OpenCL platform (clGetPlatformIDs: " + std::to_string(e) + ")";
        return false;
    }
    for (cl_uint i = 0; i < np && !g_cl.ctx; i++) {
        cl_device_id dev;
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, 1, &dev, &nd) != CL_SUCCESS || nd == 0) continue;
        char name[256] = "";
        clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name, name, nullptr);
        g_cl.device = name;
        g_cl.ctx = clCreateContext(nullptr, 1, &dev, nullptr, nullptr, &e);
        if (e != CL_SUCCESS) {
            g_cl.ctx = nullptr;
            continue;
        }
        g_cl.q = clCreateCommandQueue(g_cl.ctx, dev, 0, &e);
        if (e != CL_SUCCESS) {
            clReleaseContext(g_cl.ctx);
            g_cl.ctx = nullptr;
        }
    }
    if (!g_cl.ctx) g_cl.why = "no usable OpenCL device";
    return g_cl.ctx != nullptr;
}

void skip(benchmark::State &st, const std::string &msg) {
    st.SetLabel(msg);
    st.SkipWithError(msg.c_str());
}

cl_mem buffer_from(const float *host, size_t bytes, cl_mem_flags flags, cl_int *e) {
    return clCreateBuffer(g_cl.ctx, flags | CL_MEM_COPY_HOST_PTR, bytes, const_cast<float *>(host), e);
}

void bm_clblast(benchmark::State &st, QkbCase c, int threads) {
    if (!open_cl()) return skip(st, g_cl.why);
    qkb_claim_memory(QkbOwner::CLBlast);
    const size_t welems = (size_t)(c.s.n * c.s.k), wbytes = welems * sizeof(float);
    if (g.n != c.s.n || g.k != c.s.k) {
        qkb_release_clblast();
        g.n = c.s.n;
        g.k = c.s.k;
    }
    const size_t count = qkb_rotation_count(wbytes, c.m);
    if (g.w.size() < count) {
        std::vector<float> host(welems);
        while (g.w.size() < count) {
            qkb_fill_weights(host.data(), welems, 700 + g.w.size());
            cl_int e;
            cl_mem m = buffer_from(host.data(), wbytes, CL_MEM_READ_ONLY, &e);
            if (e != CL_SUCCESS) return skip(st, "clCreateBuffer(weights): " + std::to_string(e));
            g.w.push_back(m);
        }
    }
    std::vector<float> x((size_t)(c.m * c.s.k)), y((size_t)(c.m * c.s.n));
    qkb_fill_activations(x.data(), c.m, c.s.k, 99);
    cl_int e1, e2;
    cl_mem xb = buffer_from(x.data(), x.size() * sizeof(float), CL_MEM_READ_ONLY, &e1);
    cl_mem yb = buffer_from(y.data(), y.size() * sizeof(float), CL_MEM_READ_WRITE, &e2);
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS) {
        if (xb) clReleaseMemObject(xb);
        if (yb) clReleaseMemObject(yb);
        return skip(st, "clCreateBuffer(x, y) failed");
    }
    auto run = [&](cl_mem w) {
        cl_event ev = nullptr;
        CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes, (size_t)c.m,
                                           (size_t)c.s.n, (size_t)c.s.k, 1.0f, xb, 0, (size_t)c.s.k, w, 0,
                                           (size_t)c.s.k, 0.0f, yb, 0, (size_t)c.s.n, &g_cl.q, &ev);
        if (s == CLBlastSuccess && ev) {
            clWaitForEvents(1, &ev);
            clReleaseEvent(ev);
        }
        return s;
    };
    // The first call compiles CLBlast's kernels for this device: not part of the timing.
    CLBlastStatusCode s = run(g.w[0]);
    if (s != CLBlastSuccess) {
        clReleaseMemObject(xb);
        clReleaseMemObject(yb);
        return skip(st, "CLBlastSgemm: status " + std::to_string((int)s));
    }
    const size_t rot = c.m <= 8 ? g.w.size() : 1;
    size_t i = 0;
    QkbTimer timer;
    for (auto _ : st) {
        run(g.w[i]);
        if (++i == rot) i = 0;
    }
    const double bytes = (double)wbytes + (double)(c.m * c.s.k) * sizeof(float);
    qkb_matmul_counters(st, QkbPeak::F32, threads, c.m, c.s.n, c.s.k, bytes, timer);
    st.counters["rotated_MiB"] = (double)(rot * wbytes) / (1 << 20);
    st.SetLabel("CLBlast sgemm on " + g_cl.device);
    clReleaseMemObject(xb);
    clReleaseMemObject(yb);
}

}  // namespace

void qkb_release_clblast() {
    for (cl_mem m : g.w) clReleaseMemObject(m);
    g = Pool{};
}

void qkb_register_clblast() {
    for (const QkbCase &c : qkb_matmul_cases())
        for (int t : qkb_backend_threads("opencl", qkb_threads_for(c))) {
            std::string name = "peer/clblast/w=f32/a=f32/M:" + std::to_string(c.m) + "/N:" + std::to_string(c.s.n) +
                               "/K:" + std::to_string(c.s.k) + "/threads:" + std::to_string(t);
            benchmark::RegisterBenchmark(name.c_str(), bm_clblast, c, t)->UseRealTime()->Unit(benchmark::kMillisecond);
        }
}
