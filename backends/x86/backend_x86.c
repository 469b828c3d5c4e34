/* The x86 backend's table: probe, kernel names, and the matmul / quant entries that
 * forward to the AVX-512 files. This file has no ISA flags, so the table and the probe
 * run on any x86-64; the *avx512vnni.c functions are reached only after probe said yes. */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/x86/x86.h"
#include "backends/x86/x86_quant.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

#define QK_X86_NEED (QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VL | QKERN_CPU_AVX512VNNI)

/* The kernel families' tunables, as data for the autotuner (fields: x86.h). Defaults were
 * measured on two machines: first an AMD EPYC Zen 4 under KVM (2 vCPU, 1 MiB L2, 32 MiB
 * L3; vpdpbusd zmm 1/cycle, ~450 GOPS per core), then an Intel Xeon with AMX under KVM
 * (2 vCPU, 2 MiB L2, panels do not stay in L3; vpdpbusd zmm 2/cycle, ~800 GOPS per core,
 * read 16 GB/s per core), timing compute() in thread CPU time or the bench in one run;
 * docs/performance-x86.md has the runs. This table is the common set (the Xeon's values
 * where the two machines disagreed); qk_x86_tunes_zen below overrides the GEMV streaming
 * and the float-activation tile on AMD Zen. On a CPU with AMX-INT8 the whole 16-row blocks of
 * the i8_i8 and i8_i4 GEMMs run on the tile unit (gemm_int8__amx.c, no tunables yet); these
 * tiles then take the rows left over and every GEMV. Common to all:
 *   n_block 128: 128 columns × K=4096 int8 = 512 KiB of panels stay in L2 while m_block
 *     rows stream past; larger K just streams the panels from L3.
 *   m_block 96: 12 row tiles of 8 (or 16 of 6) reuse each panel pair from L1/L2.
 *   prefetch (GEMV tiles at M ≤ 4, bytes ahead in each panel stream): on Zen 4 software
 *     prefetch 512 / 1024 / 2048 B ahead measured 5 / 17 / 30 % slower (Q4_0 and I8,
 *     M = 1); on the Xeon the 4-bit streams need it: Q4_0 / I4 g=128 at M = 1, one panel
 *     at a time, 0 / 1024 / 2048 B: 9.8-10.1 / 11.5 / 12.5 GB/s; with two panels at once
 *     (gemv_panels 2) 11.0-11.7 / 13.8 / 14.0-14.2 against the 16 GB/s read probe. 2048
 *     is the default for the 4-bit and ggml families (the Xeon is the reference
 *     machine); I8 keeps 0 (15.5 GB/s without it: the 2-panel row tile is two streams).
 *     The f32-activation GEMV (M = 1, f32 row) is compute-bound at one thread and gains
 *     from 2048 B on Zen 4 too (+3-9 %), so that family keeps it in both sets.
 *   gemv_panels 2: the M ≤ 4 GEMV tiles read two panels at once (two DRAM streams).
 *   gemv_max_m: at M ≤ gemv_max_m the one-panel GEMV tiles read every weight byte once.
 *     I8 per-row tiles hold 8 rows × 2 panels, so they read the weights once at M ≤ 8 anyway.
 *     For the 4-bit and ggml families it is 4: at M = 8 the 6x32 + 2x32 GEMM tiles (the
 *     second pass over a panel pair hits L2) beat the 8x16 GEMV tile, 6.7-8.5 vs 4.6-5.7
 *     GB/s (Q4_0 and I4 g=128, N = 11008, K = 4096, 1.1 GiB rotated, CPU time).
 *   gemv8_kb / gemv8_prefetch (I4 symmetric and Q4_0 with int8 activations, M = 8): the 8x16
 *     asm GEMV tile, one pass over the weights: 8.9-10.5 GB/s (Q4_0) and 10.9-11.4 GB/s
 *     (I4 g=128) against 8.2-8.5 for the GEMM tiles (same shapes, same minute). K slices of
 *     4096: at K = 11008, 1024 and 4096 measured 8.6 vs 8.3 (no slicing); at K = 4096, slices
 *     of 1024 were slower (7.2). Prefetch 4096 B ahead: 0 / 512 / 1024 / 2048 / 4096 measured
 *     5.7-6.2 / 7.0 / 7.7 / 8.5-9.5 / 7.8-10.6 GB/s (Q4_0, under load); without it the stream
 *     falls behind even at this (compute-bound) rate; prefetcht1 instead of t0: 6.4-7.2.
 *     On the Xeon 1024 / 2048 / 4096 / 8192 B measured 9.0-9.9 / 10.2-10.4 / 10.1-10.5 /
 *     9.9-10.5 GB/s, and without K slicing 6.9-7.8: the tile is compute-bound there too.
 *     Huge pages for the packed panels (madvise) did not change it, so they are not asked for.
 *   unpack_once (nib_x8 GEMM): 1 for I4 × I8: unpacking each panel pair once per call into
 *     int8 bytes and running asm tiles over them measured 535-558 against 476-488 GOPS for the
 *     in-register unpack (Xeon, 512x4096x4096 g=128, compute() in CPU time, alternating runs).
 *     0 for Q4_0 × Q8_0: there the same change measured 399-433 against 459-477: the unpacked
 *     bytes double what the tile reads from L2 per vpdpbusd (128 B per 12 against 64 B per
 *     24), and with only 8 k4-chunks per 32-block the f32 fold leaves no slack for it. */
const qk_x86_tune qk_x86_tunes[] = {
    {"i8_i8", 8, 2, 8, 128, 96, 0, 0, 0, 2, 0,
     "8x32 (asm K loop): 16 int32 accumulators + 2 weight vectors + 2 broadcasts; 10 loads per 16 vpdpbusd "
     "leave the load ports idle half the time; measured 430 GOPS (96% of peak) vs 370 for 6x32 on Zen 4; "
     "on the Xeon 610-680 GOPS (75-83%) with the next panel pair prefetched into L2, 525 without"},
    {"i8_i4", 6, 2, 4, 128, 96, 2048, 4096, 4096, 2, 1,
     "6x32: 12 int32 + 12 f32 accumulators (groups end inside K); MR 3/4/5/6 measured 372/365/333/357 GOPS "
     "at 512x4096x4096 g=128 (within noise); 6 keeps the most rows per unpacked nibble vector"},
    {"q8_0_q4_0", 6, 2, 4, 128, 96, 2048, 4096, 4096, 2, 0,
     "as i8_i4; MR 3/4/5/6 measured 295/304/288/297 GOPS: the per-32-block cvt+mul+fma per accumulator, "
     "not the tile, bounds it"},
    {"q8_0_q8_0", 6, 2, 4, 128, 96, 2048, 0, 0, 2, 0, "as q8_0_q4_0 with int8 codes (no unpack)"},
    {"q8_1_q4_1", 6, 2, 4, 128, 96, 2048, 0, 0, 2, 0, "as q8_0_q4_0 plus the m_w·s_x fma per block"},
    {"f32", 4, 2, 0, 128, 96, 2048, 0, 0, 2, 0,
     "4x32 f32 FMA: 8 group + 8 total f32 accumulators, codes decoded once per 16x4 chunk for 4 rows; "
     "M = 1: prefetch 2048 B ahead (Zen 4, 1 t: I8 23.1 -> 24.1-24.7 GB/s, 4-bit +2-4 %, 1024 / 4096 "
     "no better; the Xeon not measured for this family, its 4-bit integer streams needed it)"},
    {"fp8_fp8", 8, 2, 0, 128, 96, 0, 0, 0, 2, 0,
     "8x32 vdpbf16ps: 16 f32 accumulators, 2 BF16-pair weight vectors, 1 broadcast (the W8A8 tile shape)"},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL},
};

/* AMD Zen (family 19h on: Zen 3/4/5) keeps the integer tiles but streams the M ≤ 4 GEMV
 * differently, and runs the float-activation (f32 FMA) tiles one panel wide. Zen 4, 4096², 1.1 GiB rotated, 1 thread, read probe 32 GB/s, three
 * alternating runs of (prefetch, gemv_panels) = the Xeon's (2048, 2) / (0, 1) / (0, 2) /
 * (2048, 1): I4 g=128 21.8-23.9 / 23.8-28.0 / 24.2 / 21.2, Q4_0 22.7-23.7 / 27.1-28.3 /
 * 24.2 / 24.3, Q8_0 25.4-25.6 / 31.9-32.1 / 28.5 / 25.8, Q4_1 24.2-25.0 / 27.5-28.5 /
 * 25.8 / 26.2 GB/s: one stream and no software prefetch (its L2 stream prefetcher keeps
 * one stream ahead by itself; a second stream or software prefetches disturb it). I8
 * rows: (0, 1) 28.4-30.3 vs (0, 2) 29.0-31.6, so I8 keeps the common streaming; its M = 8
 * block fetches the next panel pair (gemv8_prefetch 1): 20.2-22.1 -> 27.1-27.4 GB/s, 1
 * thread, three alternating runs (on the Xeon the same cost 12.1 vs 13.6-14.1). */
static const qk_x86_tune qk_x86_tunes_zen[] = {
    {"i8_i8", 8, 2, 8, 128, 96, 0, 0, 1, 2, 0, "as the common i8_i8; M = 8: the next panel pair into L2 (Zen)"},
    {"i8_i4", 6, 2, 4, 128, 96, 0, 4096, 4096, 1, 1, "as the common i8_i4, GEMV: one stream, no prefetch (Zen)"},
    {"q8_0_q4_0", 6, 2, 4, 128, 96, 0, 4096, 4096, 1, 0, "as the common q8_0_q4_0, GEMV: one stream, no prefetch (Zen)"},
    {"q8_0_q8_0", 6, 2, 4, 128, 96, 0, 0, 0, 1, 0, "as the common q8_0_q8_0, GEMV: one stream, no prefetch (Zen)"},
    {"q8_1_q4_1", 6, 2, 4, 128, 96, 0, 0, 0, 1, 0, "as the common q8_1_q4_1, GEMV: one stream, no prefetch (Zen)"},
    {"fp8_fp8", 8, 2, 0, 128, 96, 0, 0, 1, 2, 0,
     "as the common fp8_fp8; M <= 8: the next panel pair into L2, across the task's end too (Zen 4, 4096²: "
     "M = 1 1 t 24 -> 30 GB/s, 2 t x1.2-1.3; M = 8 1 t 9.2-9.9 -> 10.4-10.9)"},
    {"f32", 8, 1, 0, 128, 96, 2048, 0, 0, 2, 0,
     "8x16: one panel per tile (Zen). 4096², M = 128, 1 t, GFLOPS for 4x32 / 4x16 / 8x16: I4 88 / 111 / 111, "
     "NF4 88 / 108 / 112, I8 93 / 114 / 113, FP8 E4M3 86 / 91 / 101 (f32 FMA peak 118); M = 1 nibbles one "
     "panel 16.7 vs 15.0 GB/s; the M = 1 byte-code GEMV keeps two panels (gemv_panels): I8 28.2 vs 26.9"},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL},
};

int qk_x86_cpu_is_amd_zen(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    /* "AuthenticAMD" in ebx, edx, ecx */
    if (b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned family = ((a >> 8) & 0xF) + (((a >> 8) & 0xF) == 0xF ? ((a >> 20) & 0xFF) : 0);
    return family >= 0x19;
}

const qk_x86_tune *qk_x86_tune_for(qkern_format f, qkern_act_mode act) {
    const char *fam = "f32";
    if (act == QKERN_ACT_I8_DYNAMIC || act == QKERN_ACT_LLM_INT8) fam = f == QKERN_I8 ? "i8_i8" : "i8_i4";
    else if (act == QKERN_ACT_Q8_0) fam = f == QKERN_Q4_0 ? "q8_0_q4_0" : "q8_0_q8_0";
    else if (act == QKERN_ACT_Q8_1) fam = "q8_1_q4_1";
    else if (act == QKERN_ACT_FP8_E4M3 || act == QKERN_ACT_FP8_E5M2) fam = "fp8_fp8";
    if (qk_x86_cpu_is_amd_zen())
        for (const qk_x86_tune *t = qk_x86_tunes_zen; t->family; t++)
            if (strcmp(t->family, fam) == 0) return t;
    for (const qk_x86_tune *t = qk_x86_tunes; t->family; t++)
        if (strcmp(t->family, fam) == 0) return t;
    return &qk_x86_tunes[0];
}

static int qk_x86_probe(uint64_t cpu, char *why, size_t n) {
    if ((cpu & QK_X86_NEED) == QK_X86_NEED) {
        snprintf(why, n, "tunables: %s", qk_x86_cpu_is_amd_zen() ? "AMD Zen set" : "common set");
        return 1;
    }
    snprintf(why, n, "no AVX-512 VNNI on this CPU");
    return 0;
}

static const char *qk_x86_kernel_name(void *state, qk_op op, const qkern_quant_desc *d, qkern_act_mode act) {
    (void)state;
    switch (op) {
    case QK_OP_QUANTIZE: return qk_x86_quant_kernel_name(d);
    case QK_OP_DEQUANTIZE: return qk_x86_dequant_kernel_name(d);
    case QK_OP_MATMUL: return qk_x86_matmul_kernel_name(d, act);
    default: return NULL;
    }
}

/* ---- matmul ------------------------------------------------------------------------ */

static void qk_x86_free_data(void *data, void *state) {
    (void)state;
    qk_x86_packed_free(data);
}

static qkern_status qk_x86_mm_pack(void *state, const qkern_qtensor *w, const qkern_matmul_options *opts,
                                   qk_packed *p) {
    (void)state;
    qk_x86_packed *P = NULL;
    qkern_status s = qk_x86_pack(w, opts, &P);
    if (s != QKERN_OK) return s;
    p->data = P;
    p->data_bytes = P->panel_bytes * (size_t)P->panels;
    p->free_data = qk_x86_free_data;
    const char *k = P->amx ? qk_x86_amx_kernel_name(P->amx) : qk_x86_matmul_kernel_name(&w->desc, P->act);
    snprintf(p->kernel, sizeof p->kernel, "%s", k ? k : "?");
    return QKERN_OK;
}

static size_t qk_x86_mm_scratch(const qk_packed *p, int64_t m) {
    const qk_x86_packed *P = p->data;
    size_t rows, total;
    if (!qk_mul_size(qk_x86_act_row_bytes(P), (size_t)m, &rows) || !qk_add_size(rows, 64, &total)) return SIZE_MAX;
    if (P->act == QKERN_ACT_LLM_INT8 && !qk_add_size(total, qk_llm_int8_header_bytes(P->k), &total)) return SIZE_MAX;
    return total;
}

/* The scratch the front end allocates may not be 64-byte aligned; rows are addressed
 * from the first aligned byte (act_scratch_bytes asks for 64 spare bytes), after the
 * front end's outlier header for LLM.int8. */
static uint8_t *qk_x86_rows(const qk_x86_packed *P, const void *s) {
    uintptr_t u = (uintptr_t)s;
    if (P->act == QKERN_ACT_LLM_INT8) u += qk_llm_int8_header_bytes(P->k);
    return (uint8_t *)((u + 63) & ~(uintptr_t)63);
}

static qkern_status qk_x86_mm_prepare(void *state, const qk_packed *p, const float *x, int64_t ldx, int64_t m0,
                                      int64_t m1, void *scratch) {
    (void)state;
    const qk_x86_packed *P = p->data;
    if (P->act == QKERN_ACT_LLM_INT8)
        qk_x86_prepare_llm__avx512vnni(P, x, ldx, qk_llm_int8_mask(scratch), m0, m1, qk_x86_rows(P, scratch));
    else
        qk_x86_prepare_act__avx512vnni(P, x, ldx, m0, m1, qk_x86_rows(P, scratch));
    return QKERN_OK;
}

static qkern_status qk_x86_mm_compute(void *state, const qk_packed *p, const float *x, int64_t ldx,
                                      const void *scratch, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *y,
                                      int64_t ldy) {
    (void)state;
    const qk_x86_packed *P = p->data;
    const uint8_t *s = qk_x86_rows(P, scratch);
    if (P->act == QKERN_ACT_FLOAT) {
        /* compute gets y at row 0; the tiles address rows m0.. and columns n0.. from there. */
        qk_x86_compute_f32__avx512vnni(P, (const float *)s, (int64_t)(qk_x86_act_row_bytes(P) / 4), m0, m1, n0, n1,
                                       y, ldy);
        return QKERN_OK;
    }
    if (P->bits == 16) {
        if (P->use_bf16) qk_x86_compute_fp8__avx512bf16(P, s, m0, m1, n0, n1, y, ldy);
        else qk_x86_compute_fp8_f32__avx512vnni(P, s, m0, m1, n0, n1, y, ldy);
        return QKERN_OK;
    }
    qk_x86_compute_int8__avx512vnni(P, s, m0, m1, n0, n1, y, ldy);
    if (P->act == QKERN_ACT_LLM_INT8) {
        qk_llm_int8_header h;
        memcpy(&h, scratch, sizeof h);
        if (h.n_outliers)
            qk_x86_llm_outliers__avx512vnni(P, x, ldx, qk_llm_int8_list(scratch, P->k), h.n_outliers, m0, m1, n0, n1,
                                            y, ldy);
    }
    return QKERN_OK;
}

static const qk_matmul_ops qk_x86_matmul_ops = {
    .pack = qk_x86_mm_pack,
    .act_scratch_bytes = qk_x86_mm_scratch,
    .prepare_act = qk_x86_mm_prepare,
    .compute = qk_x86_mm_compute,
    /* 192 rows (24 tiles of 8, 32 of 6, 6 AMX blocks of 32; 768 KiB of int8 activations at
     * K = 4096 stay in the 2 MiB L2 across the task's columns): with AMX the weights' DRAM
     * stream, read once per row block, bounded 96: W8A8 / I4 AMX at 512x4096² measured
     * 1.92-2.00 / 1.11-1.18 TOPS with 96 and 2.20-2.40 / 1.31-1.41 with 192; the vpdpbusd
     * rows moved by -1..+10 %, Q4_0 x Q8_0 at 2 threads -2..-9 % (same-run A/B). 128
     * columns = 4 panel pairs, and 32 tasks at N = 4096 for a GEMV, enough for 2 threads. */
    .m_step = 192,
    .n_step = 128,
};

/* ---- quantize / dequantize ------------------------------------------------------------ */

static qkern_status qk_x86_quantize(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    (void)state;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (s != QKERN_OK) return s;
    if (!qk_x86_quant_kernel_name(&dst->desc))
        return qk_error(QKERN_UNSUPPORTED, "x86 quantize: %s has no AVX-512 kernel", qk_format_name(dst->desc.format));
    qk_x86_quantize__avx512vnni(src, dst, &L, r0, r1);
    return QKERN_OK;
}

static qkern_status qk_x86_dequantize(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    (void)state;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&src->desc, src->rows, src->cols, &L);
    if (s != QKERN_OK) return s;
    if (!qk_x86_dequant_kernel_name(&src->desc))
        return qk_error(QKERN_UNSUPPORTED, "x86 dequantize: %s has no AVX-512 kernel", qk_format_name(src->desc.format));
    qk_x86_dequantize__avx512vnni(src, &L, dst, r0, r1);
    return QKERN_OK;
}

const qk_backend qk_backend_x86 = {
    .name = "x86",
    .probe = qk_x86_probe,
    .open = NULL,
    .close = NULL,
    .kernel_name = qk_x86_kernel_name,
    .threaded = 1,
    .quantize = qk_x86_quantize,
    .dequantize = qk_x86_dequantize,
    .tensor_reduce = qk_x86_tensor_reduce__avx512vnni,
    .matmul = &qk_x86_matmul_ops,
};
