// AVX2 probes for CPUs without AVX-512 VNNI: the int8 dot product as the
// vpmaddubsw + vpmaddwd + vpaddd triple (what an AVX2 int8 GEMM runs), the f32 FMA
// peak, and a 32-byte-load read loop. Built with -mavx2 -mfma.
#include <immintrin.h>

#include "bench/roofline_isa.h"

// The multiplies read loop-invariant operands, so an empty asm marks them as
// rewritten each iteration (no instruction emitted) — otherwise the compiler would
// hoist vpmaddubsw out of the loop. Four chains keep within 16 ymm registers; the
// only loop-carried dependency is the 1-cycle vpaddd.
uint64_t qkb_int8_loop__avx2(uint64_t iters, uint32_t seed) {
    __m256i a0 = _mm256_set1_epi32((int)(seed | 0x01010101u)), a1 = _mm256_set1_epi32((int)(seed + 1)),
            a2 = _mm256_set1_epi32((int)(seed + 2)), a3 = _mm256_set1_epi32((int)(seed + 3));
    const __m256i b = _mm256_set1_epi32((int)(seed * 2654435761u) & 0x3f3f3f3f), ones = _mm256_set1_epi16(1);
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
    for (uint64_t i = 0; i < iters; i++) {
        __asm__("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a0, b), ones));
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a1, b), ones));
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(a2, b), ones));
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(a3, b), ones));
    }
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
    alignas(32) uint32_t lane[8];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lane), s);
    uint64_t r = 0;
    for (uint32_t v : lane) r += v;
    return r;
}

uint64_t qkb_f32_loop__avx2(uint64_t iters, uint32_t seed) {
    const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-3f * (float)(seed & 7) + 1e-3f);
    __m256 c0 = _mm256_set1_ps(0.f), c1 = _mm256_set1_ps(1.f), c2 = _mm256_set1_ps(2.f), c3 = _mm256_set1_ps(3.f),
           c4 = _mm256_set1_ps(4.f), c5 = _mm256_set1_ps(5.f), c6 = _mm256_set1_ps(6.f), c7 = _mm256_set1_ps(7.f),
           c8 = _mm256_set1_ps(8.f), c9 = _mm256_set1_ps(9.f);
    for (uint64_t i = 0; i < iters; i++) {
        c0 = _mm256_fmadd_ps(c0, a, b);
        c1 = _mm256_fmadd_ps(c1, a, b);
        c2 = _mm256_fmadd_ps(c2, a, b);
        c3 = _mm256_fmadd_ps(c3, a, b);
        c4 = _mm256_fmadd_ps(c4, a, b);
        c5 = _mm256_fmadd_ps(c5, a, b);
        c6 = _mm256_fmadd_ps(c6, a, b);
        c7 = _mm256_fmadd_ps(c7, a, b);
        c8 = _mm256_fmadd_ps(c8, a, b);
        c9 = _mm256_fmadd_ps(c9, a, b);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(_mm256_add_ps(c6, c7), _mm256_add_ps(c8, c9))));
    alignas(32) float lane[8];
    _mm256_store_ps(lane, s);
    float r = 0;
    for (float v : lane) r += v;
    return (uint64_t)r;
}

uint64_t qkb_read_sum__avx2(const void *p, size_t bytes) {
    const __m256i *v = static_cast<const __m256i *>(p);
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0, n = bytes / 32; i + 4 <= n; i += 4) {
        s0 = _mm256_add_epi64(s0, _mm256_load_si256(v + i));
        s1 = _mm256_add_epi64(s1, _mm256_load_si256(v + i + 1));
        s2 = _mm256_add_epi64(s2, _mm256_load_si256(v + i + 2));
        s3 = _mm256_add_epi64(s3, _mm256_load_si256(v + i + 3));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
    alignas(32) uint64_t lane[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lane), s);
    return lane[0] + lane[1] + lane[2] + lane[3];
}
