// Register-resident AVX-512 probes: the int8 dot-product peak (vpdpbusd), the f32 FMA
// peak and a 64-byte-load read loop. Built with -mavx512f -mavx512bw -mavx512vnni -mfma.
#include <immintrin.h>

#include "bench/roofline_isa.h"

// Horizontal sums through memory: gcc 12's _mm512_reduce_* expand to intrinsics with an
// intentionally undefined operand that -Wuninitialized (and so -Werror) rejects.
static uint64_t sum_epi32(__m512i v) {
    alignas(64) uint32_t lane[16];
    _mm512_store_si512(lane, v);
    uint64_t r = 0;
    for (uint32_t x : lane) r += x;
    return r;
}

static uint64_t sum_epi64(__m512i v) {
    alignas(64) uint64_t lane[8];
    _mm512_store_si512(lane, v);
    uint64_t r = 0;
    for (uint64_t x : lane) r += x;
    return r;
}

static double sum_ps(__m512 v) {
    alignas(64) float lane[16];
    _mm512_store_ps(lane, v);
    double r = 0;
    for (float x : lane) r += x;
    return r;
}

// 16 accumulators: vpdpbusd has ~4-5 cycles latency and up to 2 issue per cycle, so
// fewer than ~10 independent chains would measure latency, not throughput. Distinct
// initial values keep the compiler from merging identical chains.
uint64_t qkb_int8_loop__avx512vnni(uint64_t iters, uint32_t seed) {
    const __m512i a = _mm512_set1_epi32((int)(seed | 0x01010101u));
    const __m512i b = _mm512_set1_epi32((int)(seed * 2654435761u));
    __m512i c0 = _mm512_set1_epi32(0), c1 = _mm512_set1_epi32(1), c2 = _mm512_set1_epi32(2),
            c3 = _mm512_set1_epi32(3), c4 = _mm512_set1_epi32(4), c5 = _mm512_set1_epi32(5),
            c6 = _mm512_set1_epi32(6), c7 = _mm512_set1_epi32(7), c8 = _mm512_set1_epi32(8),
            c9 = _mm512_set1_epi32(9), c10 = _mm512_set1_epi32(10), c11 = _mm512_set1_epi32(11),
            c12 = _mm512_set1_epi32(12), c13 = _mm512_set1_epi32(13), c14 = _mm512_set1_epi32(14),
            c15 = _mm512_set1_epi32(15);
    for (uint64_t i = 0; i < iters; i++) {
        c0 = _mm512_dpbusd_epi32(c0, a, b);
        c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b);
        c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b);
        c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b);
        c7 = _mm512_dpbusd_epi32(c7, a, b);
        c8 = _mm512_dpbusd_epi32(c8, a, b);
        c9 = _mm512_dpbusd_epi32(c9, a, b);
        c10 = _mm512_dpbusd_epi32(c10, a, b);
        c11 = _mm512_dpbusd_epi32(c11, a, b);
        c12 = _mm512_dpbusd_epi32(c12, a, b);
        c13 = _mm512_dpbusd_epi32(c13, a, b);
        c14 = _mm512_dpbusd_epi32(c14, a, b);
        c15 = _mm512_dpbusd_epi32(c15, a, b);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3)),
                                 _mm512_add_epi32(_mm512_add_epi32(c4, c5), _mm512_add_epi32(c6, c7)));
    __m512i t = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(c8, c9), _mm512_add_epi32(c10, c11)),
                                 _mm512_add_epi32(_mm512_add_epi32(c12, c13), _mm512_add_epi32(c14, c15)));
    return sum_epi32(_mm512_add_epi32(s, t));
}

// acc = acc·a + b with a just below 1 converges instead of overflowing, and stays
// normal, so no microcode assists for denormals skew the peak.
uint64_t qkb_f32_loop__avx512(uint64_t iters, uint32_t seed) {
    const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-3f * (float)(seed & 7) + 1e-3f);
    __m512 c0 = _mm512_set1_ps(0.f), c1 = _mm512_set1_ps(1.f), c2 = _mm512_set1_ps(2.f), c3 = _mm512_set1_ps(3.f),
           c4 = _mm512_set1_ps(4.f), c5 = _mm512_set1_ps(5.f), c6 = _mm512_set1_ps(6.f), c7 = _mm512_set1_ps(7.f),
           c8 = _mm512_set1_ps(8.f), c9 = _mm512_set1_ps(9.f), c10 = _mm512_set1_ps(10.f),
           c11 = _mm512_set1_ps(11.f), c12 = _mm512_set1_ps(12.f), c13 = _mm512_set1_ps(13.f),
           c14 = _mm512_set1_ps(14.f), c15 = _mm512_set1_ps(15.f);
    for (uint64_t i = 0; i < iters; i++) {
        c0 = _mm512_fmadd_ps(c0, a, b);
        c1 = _mm512_fmadd_ps(c1, a, b);
        c2 = _mm512_fmadd_ps(c2, a, b);
        c3 = _mm512_fmadd_ps(c3, a, b);
        c4 = _mm512_fmadd_ps(c4, a, b);
        c5 = _mm512_fmadd_ps(c5, a, b);
        c6 = _mm512_fmadd_ps(c6, a, b);
        c7 = _mm512_fmadd_ps(c7, a, b);
        c8 = _mm512_fmadd_ps(c8, a, b);
        c9 = _mm512_fmadd_ps(c9, a, b);
        c10 = _mm512_fmadd_ps(c10, a, b);
        c11 = _mm512_fmadd_ps(c11, a, b);
        c12 = _mm512_fmadd_ps(c12, a, b);
        c13 = _mm512_fmadd_ps(c13, a, b);
        c14 = _mm512_fmadd_ps(c14, a, b);
        c15 = _mm512_fmadd_ps(c15, a, b);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)),
                             _mm512_add_ps(_mm512_add_ps(c12, c13), _mm512_add_ps(c14, c15)));
    return (uint64_t)sum_ps(_mm512_add_ps(s, t));
}

// bytes is a multiple of 256 and p 64-byte aligned (the probe buffer is page-aligned).
uint64_t qkb_read_sum__avx512(const void *p, size_t bytes) {
    const __m512i *v = static_cast<const __m512i *>(p);
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0, n = bytes / 64; i + 4 <= n; i += 4) {
        s0 = _mm512_add_epi64(s0, _mm512_load_si512(v + i));
        s1 = _mm512_add_epi64(s1, _mm512_load_si512(v + i + 1));
        s2 = _mm512_add_epi64(s2, _mm512_load_si512(v + i + 2));
        s3 = _mm512_add_epi64(s3, _mm512_load_si512(v + i + 3));
    }
    return sum_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
}
