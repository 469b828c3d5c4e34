/* qkern-pipe-mix: which AVX-512 operations a core can issue beside its multiply pipe.
 *
 * The floors in docs/performance-x86.md count "pipe cycles": on Zen 4 vpdpbusd, vdpbf16ps
 * and vfmadd231ps share one pair of pipes, while the nibble unpacking (vpsrld, vpandd; and
 * vpternlogd at a GEMV tile's 1 per 8 multiplies, not at 1:1) and vcvtdq2ps issue beside them. That is what bounds a 4-bit GEMV at M = 8
 * (16 vpdpbusd per 64 B of nibbles) far under the read bandwidth, and no kernel can do
 * better than this probe says. Run it on a new CPU before trusting those floors there.
 *
 * Each row times a register-only loop of 10 independent zmm operations (10 chains: every
 * latency here is under 10 cycles at one per cycle), alone and interleaved with 10 of a
 * multiply; cycles come from a chain of dependent adds (1 cycle each). A pair that takes
 * the sum of its parts' times shares their pipes ("shared" 100 %); one that takes the
 * longer of the two issues beside it (0 %).
 *
 *   qkern-pipe-mix            (x86-64 with AVX-512 F/BW/VNNI; BF16 rows where present)
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define QK_ITERS 4000000L

static _Alignas(64) const uint8_t qk_buf[64]; /* the memory operand of the load forms */

static double qk_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ns per loop iteration of an asm body, best of 5 (other tenants only ever slow it down) */
#define QK_TIMED(NAME, BODY)                                                                  \
    __attribute__((target("avx512f"))) static double NAME(void) {                             \
        double best = 1e30;                                                                   \
        for (int rep = 0; rep < 5; rep++) {                                                   \
            long n = QK_ITERS;                                                                \
            double t0 = qk_now();                                                             \
            __asm__ volatile("1:\n\t" BODY "dec %0\n\t jnz 1b" : "+r"(n) : "r"(qk_buf) : "rax", "cc", \
                             "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",  \
                             "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",     \
                             "xmm15", "xmm16", "xmm17", "xmm18", "xmm19");                    \
            double t = (qk_now() - t0) / QK_ITERS * 1e9;                                      \
            if (t < best) best = t;                                                           \
        }                                                                                     \
        return best;                                                                          \
    }

/* 100 dependent adds: 100 cycles per iteration on any x86-64 core */
#define QK_A10 "add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t" \
               "add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t add $1, %%rax\n\t"
QK_TIMED(qk_cal, QK_A10 QK_A10 QK_A10 QK_A10 QK_A10 QK_A10 QK_A10 QK_A10 QK_A10 QK_A10)

/* One operation with destination register D (sources zmm28-31 are never written: the
 * values are irrelevant to the timing; accumulating forms chain on D). */
#define OP_DPBUSD(D) "vpdpbusd %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_BF16(D) "vdpbf16ps %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_FMA(D) "vfmadd231ps %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_MUL(D) "vmulps %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_ADD(D) "vaddps %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_CVT(D) "vcvtdq2ps %%zmm31, %%zmm" D "\n\t"
#define OP_PERM(D) "vpermps %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_SHUFB(D) "vpshufb %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_SXBD(D) "vpmovsxbd %%xmm31, %%zmm" D "\n\t"
#define OP_SRL(D) "vpsrld $4, %%zmm31, %%zmm" D "\n\t"
#define OP_AND(D) "vpandd %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_TERN(D) "vpternlogd $0x6A, %%zmm30, %%zmm31, %%zmm" D "\n\t"
#define OP_BCST(D) "vpbroadcastd %%xmm31, %%zmm" D "\n\t"
#define OP_BCSTM(D) "vpbroadcastd (%1), %%zmm" D "\n\t"
/* the broadcast folded into the multiply: what a tile does when a broadcast feeds one vpdpbusd */
#define OP_DPEMB(D) "vpdpbusd (%1)%{1to16%}, %%zmm31, %%zmm" D "\n\t"

#define QK_LO10(OP) OP("0") OP("1") OP("2") OP("3") OP("4") OP("5") OP("6") OP("7") OP("8") OP("9")
#define QK_HI10(OP) OP("10") OP("11") OP("12") OP("13") OP("14") OP("15") OP("16") OP("17") OP("18") OP("19")

#define QK_OPS(X)                                                                              \
    X(DPBUSD, "vpdpbusd", 0) X(BF16, "vdpbf16ps", 1) X(FMA, "vfmadd231ps", 0) X(MUL, "vmulps", 0) \
    X(ADD, "vaddps", 0) X(CVT, "vcvtdq2ps", 0) X(PERM, "vpermps", 0) X(SHUFB, "vpshufb", 0)    \
    X(SXBD, "vpmovsxbd", 0) X(SRL, "vpsrld", 0) X(AND, "vpandd", 0) X(TERN, "vpternlogd", 0)  \
    X(BCST, "vpbroadcastd xmm", 0) X(BCSTM, "vpbroadcastd m32", 0) X(DPEMB, "vpdpbusd m32{1to16}", 0)

#define QK_ALONE(N, NAME, BF) QK_TIMED(qk_alone_##N, QK_LO10(OP_##N))
QK_OPS(QK_ALONE)
/* each operation beside 10 vpdpbusd, and beside 10 vfmadd231ps */
#define QK_WITH_DP(N, NAME, BF) QK_TIMED(qk_dp_##N, QK_LO10(OP_DPBUSD) QK_HI10(OP_##N))
#define QK_WITH_FMA(N, NAME, BF) QK_TIMED(qk_fma_##N, QK_LO10(OP_FMA) QK_HI10(OP_##N))
/* and two of it beside 10 vpdpbusd: the ratio of an unpack in a GEMV tile (vpternlogd on
 * Zen 4 takes a multiply slot at 1:1 but hides at 1:5) */
#define QK_FEW_DP(N, NAME, BF) QK_TIMED(qk_dp2_##N, QK_LO10(OP_DPBUSD) OP_##N("10") OP_##N("11"))
QK_OPS(QK_WITH_DP)
QK_OPS(QK_WITH_FMA)
QK_OPS(QK_FEW_DP)

typedef struct {
    const char *name;
    int bf16;
    double (*alone)(void), (*with_dp)(void), (*with_fma)(void), (*few_dp)(void);
} qk_probe;

#define QK_ROW(N, NAME, BF) {NAME, BF, qk_alone_##N, qk_dp_##N, qk_fma_##N, qk_dp2_##N},
static const qk_probe qk_probes[] = {QK_OPS(QK_ROW)};

/* how much of the shorter part the pair could not hide: 0 % beside, 100 % shared */
static double qk_shared(double pair, double a, double b) {
    double lo = a < b ? a : b, hi = a < b ? b : a;
    double s = (pair - hi) / lo;
    return 100.0 * (s < 0 ? 0 : s > 1 ? 1 : s);
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vnni")) {
        printf("qkern-pipe-mix: skipped, this CPU has no AVX-512 F/BW/VNNI\n");
        return 0;
    }
    const int bf16 = __builtin_cpu_supports("avx512bf16");
    const double ns_per_cycle = qk_cal() / 100.0;
    printf("qkern-pipe-mix: %.2f GHz by a chain of dependent adds; cycles per zmm operation "
           "(10 per loop)\n\n", 1.0 / ns_per_cycle);
    const double dp = qk_alone_DPBUSD() / ns_per_cycle / 10, fma = qk_alone_FMA() / ns_per_cycle / 10;
    printf("| operation | alone | + vpdpbusd (%.2f) | shared | + vfmadd231ps (%.2f) | shared | 2 per 10 vpdpbusd | extra |\n",
           dp, fma);
    printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof qk_probes / sizeof qk_probes[0]; i++) {
        const qk_probe *p = &qk_probes[i];
        if (p->bf16 && !bf16) {
            printf("| %s | skipped: no AVX512_BF16 | | | | | | |\n", p->name);
            continue;
        }
        double a = p->alone() / ns_per_cycle / 10;
        double wd = p->with_dp() / ns_per_cycle / 10, wf = p->with_fma() / ns_per_cycle / 10;
        double few = p->few_dp() / ns_per_cycle; /* cycles for 10 vpdpbusd + 2 of it */
        printf("| %s | %.2f | %.2f | %.0f %% | %.2f | %.0f %% | %.2f | %+.0f %% |\n", p->name, a, wd,
               qk_shared(wd, a, dp), wf, qk_shared(wf, a, fma), few, 100.0 * (few / (10 * dp) - 1));
    }
    printf("\n\"+ X\": cycles per (operation + X) pair; shared: the part of the shorter one the pair "
           "could not hide\n(0 %%: it issues beside X; 100 %%: the two take each other's pipes). \"2 per 10\": "
           "cycles for 10 vpdpbusd\nand 2 of the operation, and how much longer than the 10 alone.\n");
    return 0;
}
