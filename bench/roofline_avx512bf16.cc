// Register-resident BF16 dot-product probe (vdpbf16ps zmm): the ceiling of the FP8 × FP8
// kernels, which widen both operands to BF16 exactly and accumulate in f32. Built with
// -mavx512f -mavx512bf16; called only where qkern_cpu_features() reports AVX512_BF16.
#include <immintrin.h>

#include "bench/roofline_isa.h"

// 16 independent chains: vdpbf16ps has a 6-cycle latency on Zen 4 at one per cycle (zmm).
uint64_t qkb_bf16_loop__avx512bf16(uint64_t iters, uint32_t seed) {
    // small normal BF16 operands (1.0 + ε), so the sums stay finite over any run
    __m512i a = _mm512_set1_epi32((int)(0x3F803F80u | (seed & 0x000F000Fu)));
    __m512i b = _mm512_set1_epi32((int)0x3F813F81u);
    __m512 c[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) c[j] = _mm512_set1_ps((float)j);
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+v"(a), "+v"(b)); /* the operands opaque: nothing to hoist */
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) c[j] = _mm512_dpbf16_ps(c[j], (__m512bh)a, (__m512bh)b);
    }
    alignas(64) float lane[16];
    double r = 0;
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
        _mm512_store_ps(lane, c[j]);
        for (float x : lane) r += x;
    }
    return (uint64_t)r;
}
