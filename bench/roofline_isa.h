// Probe loops compiled with their own ISA flags (bench/CMakeLists.txt); called only
// after qkern_cpu_features() says the CPU has the ISA.
#ifndef QKB_ROOFLINE_ISA_H
#define QKB_ROOFLINE_ISA_H

#include <cstddef>
#include <cstdint>

// Each compute loop runs `iters` iterations of a fixed block of independent
// register-resident instructions and returns a checksum so nothing is elided.
// Ops per iteration are the QKB_*_OPS_PER_ITER constants.
constexpr double QKB_VNNI_OPS_PER_ITER = 16.0 * 64 * 2;      // 16 × vpdpbusd zmm, 64 MACs each
constexpr double QKB_AVX2_INT8_OPS_PER_ITER = 4.0 * 32 * 2;  // 4 × (vpmaddubsw + vpmaddwd + vpaddd) ymm, 32 MACs each
constexpr double QKB_AVX512_F32_OPS_PER_ITER = 16.0 * 16 * 2; // 16 × vfmadd zmm, 16 FMAs each
constexpr double QKB_AVX2_F32_OPS_PER_ITER = 10.0 * 8 * 2;    // 10 × vfmadd ymm, 8 FMAs each
constexpr double QKB_BF16_OPS_PER_ITER = 16.0 * 32 * 2;   // 16 × vdpbf16ps zmm, 32 BF16 MACs each
constexpr double QKB_AMX_OPS_PER_ITER = 4.0 * 16 * 16 * 64 * 2; // 4 × tdpbusd on full 16x64 tiles

uint64_t qkb_int8_loop__avx512vnni(uint64_t iters, uint32_t seed);
uint64_t qkb_f32_loop__avx512(uint64_t iters, uint32_t seed);
uint64_t qkb_read_sum__avx512(const void *p, size_t bytes);
uint64_t qkb_int8_loop__avx2(uint64_t iters, uint32_t seed);
uint64_t qkb_f32_loop__avx2(uint64_t iters, uint32_t seed);
uint64_t qkb_read_sum__avx2(const void *p, size_t bytes);
uint64_t qkb_bf16_loop__avx512bf16(uint64_t iters, uint32_t seed);
// roofline_amx.cc (only where the compiler knows AMX: QKB_HAVE_AMX)
bool qkb_amx_permitted();  // asks Linux for the tile-data state; false where refused
uint64_t qkb_int8_loop__amx(uint64_t iters, uint32_t seed);

#endif
