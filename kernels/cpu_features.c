/* CPU feature detection, once per process: x86 CPUID + XGETBV (a feature counts only
 * if the OS saves its register state), AArch64 HWCAP. QKERN_DISABLE=name,name|all
 * masks features so every fallback can be exercised on any machine. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu_features.h"
#include "qkern/context.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t qk_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t qk_detect_raw(void) {
    unsigned a, b, c, d;
    uint64_t f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1;
    int has_fma = (c >> 12) & 1, has_f16c = (c >> 29) & 1;
    if (!osxsave) return 0;
    uint64_t xcr0 = qk_xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    int zmm_ok = (xcr0 & 0xe6) == 0xe6;        /* + opmask, ZMM_Hi256, Hi16_ZMM */
    int amx_ok = (xcr0 & 0x60000) == 0x60000;  /* XTILECFG + XTILEDATA */
    if (!ymm_ok) return 0;
    if (has_fma) f |= QKERN_CPU_FMA;
    if (has_f16c) f |= QKERN_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned b7 = b, c7 = c, d7 = d;
    __cpuid_count(7, 1, a, b, c, d);
    unsigned a71 = a;
    if ((b7 >> 5) & 1) f |= QKERN_CPU_AVX2;
    if (zmm_ok) {
        if ((b7 >> 16) & 1) f |= QKERN_CPU_AVX512F;
        if ((b7 >> 30) & 1) f |= QKERN_CPU_AVX512BW;
        if ((b7 >> 31) & 1) f |= QKERN_CPU_AVX512VL;
        if ((c7 >> 11) & 1) f |= QKERN_CPU_AVX512VNNI;
        if ((d7 >> 23) & 1) f |= QKERN_CPU_AVX512FP16;
        if ((a71 >> 5) & 1) f |= QKERN_CPU_AVX512BF16;
    }
    if ((a71 >> 4) & 1) f |= QKERN_CPU_AVXVNNI;
    if (amx_ok) {
        if ((d7 >> 25) & 1) f |= QKERN_CPU_AMX_INT8;
        if ((d7 >> 22) & 1) f |= QKERN_CPU_AMX_BF16;
    }
    return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1 << 14)
#endif
static uint64_t qk_detect_raw(void) {
    unsigned long h1 = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    uint64_t f = QKERN_CPU_NEON; /* Advanced SIMD is mandatory in AArch64 */
    if (h1 & HWCAP_ASIMDDP) f |= QKERN_CPU_DOTPROD;
    if (h1 & HWCAP_ASIMDHP) f |= QKERN_CPU_FP16_ARM;
    if (h2 & HWCAP2_I8MM) f |= QKERN_CPU_I8MM;
    if (h2 & HWCAP2_BF16) f |= QKERN_CPU_BF16_ARM;
    return f;
}
#else
static uint64_t qk_detect_raw(void) { return 0; }
#endif

static const struct { uint64_t bit; const char *name; } qk_feature_names[] = {
    {QKERN_CPU_AVX2, "avx2"},           {QKERN_CPU_AVX512F, "avx512f"},
    {QKERN_CPU_AVX512BW, "avx512bw"},   {QKERN_CPU_AVX512VL, "avx512vl"},
    {QKERN_CPU_AVX512VNNI, "avx512vnni"}, {QKERN_CPU_AVX512BF16, "avx512bf16"},
    {QKERN_CPU_AVX512FP16, "avx512fp16"}, {QKERN_CPU_AVXVNNI, "avxvnni"},
    {QKERN_CPU_AMX_INT8, "amx_int8"},   {QKERN_CPU_AMX_BF16, "amx_bf16"},
    {QKERN_CPU_F16C, "f16c"},           {QKERN_CPU_FMA, "fma"},
    {QKERN_CPU_NEON, "neon"},           {QKERN_CPU_DOTPROD, "dotprod"},
    {QKERN_CPU_I8MM, "i8mm"},           {QKERN_CPU_BF16_ARM, "bf16"},
    {QKERN_CPU_FP16_ARM, "fp16"},
};

const char *qkern_cpu_feature_name(uint64_t bit) {
    for (size_t i = 0; i < sizeof qk_feature_names / sizeof qk_feature_names[0]; i++)
        if (qk_feature_names[i].bit == bit) return qk_feature_names[i].name;
    return NULL;
}

/* Features named in QKERN_DISABLE ("all", or a comma / space separated list). Unknown
 * names are reported through *unknown (first one) so describe can warn about typos. */
uint64_t qk_cpu_disable_mask(const char *spec, char *unknown, size_t unknown_size) {
    uint64_t mask = 0;
    if (unknown_size) unknown[0] = '\0';
    if (!spec) return 0;
    const char *p = spec;
    while (*p) {
        while (*p == ',' || *p == ' ') p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ') p++;
        size_t len = (size_t)(p - s);
        if (!len) continue;
        if (len == 3 && strncmp(s, "all", 3) == 0) { mask = ~0ull; continue; }
        int found = 0;
        for (size_t i = 0; i < sizeof qk_feature_names / sizeof qk_feature_names[0]; i++) {
            if (strlen(qk_feature_names[i].name) == len && strncmp(s, qk_feature_names[i].name, len) == 0) {
                mask |= qk_feature_names[i].bit;
                found = 1;
            }
        }
        if (!found && unknown_size && !unknown[0]) {
            size_t n = len < unknown_size - 1 ? len : unknown_size - 1;
            memcpy(unknown, s, n);
            unknown[n] = '\0';
        }
    }
    return mask;
}

uint64_t qk_cpu_features_raw(void) {
    static uint64_t cached;
    static int done; /* benign race: every thread computes the same value */
    if (!done) { cached = qk_detect_raw(); done = 1; }
    return cached;
}

uint64_t qkern_cpu_features(void) {
    return qk_cpu_features_raw() & ~qk_cpu_disable_mask(getenv("QKERN_DISABLE"), NULL, 0);
}

size_t qk_cpu_features_string(uint64_t f, char *buf, size_t size) {
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (size_t i = 0; i < sizeof qk_feature_names / sizeof qk_feature_names[0]; i++) {
        if (!(f & qk_feature_names[i].bit)) continue;
        const char *n = qk_feature_names[i].name;
        size_t need = strlen(n) + (used ? 1 : 0);
        if (used + need + 1 > size) break;
        if (used) buf[used++] = ' ';
        memcpy(buf + used, n, strlen(n) + 1);
        used += strlen(n);
    }
    return used;
}
