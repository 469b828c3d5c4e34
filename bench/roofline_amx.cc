// The AMX-INT8 tile unit's peak: four independent tdpbusd (16 × 16 int32 += 16 × 64 u8 ·
// 64 × 16 s8) per iteration on full tiles. Built with -mamx-tile -mamx-int8; called only
// when qkern_cpu_features() has amx_int8 and the OS granted the tile state.
#include <immintrin.h>

#include <cstring>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "bench/roofline_isa.h"

bool qkb_amx_permitted() {
#if defined(__linux__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return false;
#endif
}

uint64_t qkb_int8_loop__amx(uint64_t iters, uint32_t seed) {
    struct alignas(64) Cfg {
        uint8_t palette, start, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    _tile_loadconfig(&cfg);
    alignas(64) uint8_t a[1024], b[1024];
    for (int i = 0; i < 1024; i++) a[i] = (uint8_t)(seed + (uint32_t)i), b[i] = (uint8_t)(seed * 7u + (uint32_t)i);
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a, 64);
    _tile_loadd(6, b, 64);
    _tile_loadd(7, b, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (uint64_t i = 0; i < iters; i++) {
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
    }
    alignas(64) int32_t c[4][256];
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    _tile_release();
    uint64_t r = 0;
    for (auto &t : c)
        for (int32_t x : t) r += (uint32_t)x;
    return r;
}
