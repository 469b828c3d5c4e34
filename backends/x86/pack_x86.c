/* Weight packing for the x86 backend (plain C: packing runs once per weight matrix,
 * so it needs no ISA flags and can be checked against a naive reference in the tests).
 * The layout is described in x86.h. */
#include <stdlib.h>
#include <string.h>

#include "backends/x86/x86.h"
#include "kernels/format_fp8.h"
#include "kernels/format_ggml.h"
#include "kernels/format_half.h"
#include "kernels/format_int.h"
#include "kernels/format_internal.h"
#include "kernels/format_nf4.h"
#include "kernels/packed_alloc.h"
#include "kernels/qk_error.h"
#include "qkern/context.h"

/* Largest group whose int32 accumulator cannot overflow: |(qx+128)·qw| ≤ 255·128 per product. */
#define QK_X86_MAX_GROUP 65536

static int64_t qk_round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* The group a kernel sees for desc and K (per-row scales become one group of K padded). */
static int64_t qk_x86_group(const qkern_quant_desc *d, int64_t k) {
    const qkern_format_info *info = qk_format_info(d->format);
    if (!info) return 0;
    int64_t g = d->group == QKERN_GROUP_DEFAULT ? info->default_group : d->group;
    if (g == QKERN_GROUP_ROW || g == QKERN_GROUP_TENSOR) return k;
    return g;
}

static int qk_x86_bits(qkern_format f, qkern_act_mode act) {
    if (act == QKERN_ACT_FP8_E4M3 || act == QKERN_ACT_FP8_E5M2) return 16;
    return (f == QKERN_I4 || f == QKERN_Q4_0 || f == QKERN_Q4_1 || f == QKERN_NF4) ? 4 : 8;
}

int qk_x86_amx_kind_of(qkern_format f, uint32_t flags, int64_t g, int single_group, qkern_act_mode act) {
#if defined(QKERN_HAVE_AMX)
    if (!(qkern_cpu_features() & QKERN_CPU_AMX_INT8)) return QK_X86_AMX_NONE;
    const int64_t chunks = g / 4; /* k4-chunks per group: the K step takes 16, or all 8 */
    int kind = QK_X86_AMX_NONE;
    if (f == QKERN_I8 && single_group && (act == QKERN_ACT_I8_DYNAMIC || act == QKERN_ACT_LLM_INT8) &&
        (g == 0 || chunks % 16 == 0))
        kind = QK_X86_AMX_W8ROW;
    else if (f == QKERN_I4 && !(flags & QKERN_QUANT_ASYMMETRIC) && act == QKERN_ACT_I8_DYNAMIC &&
             (g == 0 || chunks == 8 || chunks % 16 == 0))
        kind = QK_X86_AMX_I4;
    else if (f == QKERN_Q4_0 && act == QKERN_ACT_Q8_0)
        kind = QK_X86_AMX_Q4_0;
    return kind != QK_X86_AMX_NONE && qk_x86_amx_usable() ? kind : QK_X86_AMX_NONE;
#else
    (void)f, (void)flags, (void)g, (void)single_group, (void)act;
    return QK_X86_AMX_NONE;
#endif
}

const char *qk_x86_amx_kernel_name(int kind) {
    switch (kind) {
    case QK_X86_AMX_W8ROW: return "qk_gemm_i8_i8_32x32k64__amx (rows past the last 16: 8x32c4__avx512vnni)";
    case QK_X86_AMX_I4: return "qk_gemm_i8_i4_32x32k64__amx (rows past the last 16: 6x32c4__avx512vnni)";
    case QK_X86_AMX_Q4_0: return "qk_gemm_q8_0_q4_0_16x16k32__amx (rows past the last 16: 6x32c4__avx512vnni)";
    default: return NULL;
    }
}

static int qk_x86_mode_ok(qkern_format f, qkern_act_mode act) {
    switch (act) {
    case QKERN_ACT_FLOAT:
        return f == QKERN_I8 || f == QKERN_I8_ASYM || f == QKERN_I4 || f == QKERN_Q4_0 || f == QKERN_Q4_1 ||
               f == QKERN_Q8_0 || f == QKERN_Q8_1 || f == QKERN_NF4 || f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2;
    case QKERN_ACT_I8_DYNAMIC: return f == QKERN_I8 || f == QKERN_I4;
    case QKERN_ACT_Q8_0: return f == QKERN_Q4_0 || f == QKERN_Q8_0;
    case QKERN_ACT_Q8_1: return f == QKERN_Q4_1;
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: return f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2;
    case QKERN_ACT_LLM_INT8: return f == QKERN_I8;
    default: return 0;
    }
}

int qk_x86_matmul_supported(const qkern_quant_desc *d, qkern_act_mode act, int64_t k) {
    if (!d || !qk_x86_mode_ok(d->format, act)) return 0;
    const qkern_format_info *info = qk_format_info(d->format);
    int64_t g = d->group == QKERN_GROUP_DEFAULT ? info->default_group : d->group;
    int per_row = g == QKERN_GROUP_ROW || g == QKERN_GROUP_TENSOR;
    if (d->format == QKERN_I8 && g == QKERN_GROUP_TENSOR) return 0;
    if (act == QKERN_ACT_LLM_INT8 && !per_row) return 0;
    if (!per_row && (g <= 0 || g % (qk_x86_bits(d->format, act) == 4 ? 8 : 4) != 0)) return 0;
    if (!per_row && g > QK_X86_MAX_GROUP && act != QKERN_ACT_FLOAT) return 0;
    int f32_sums = act == QKERN_ACT_FLOAT || act == QKERN_ACT_FP8_E4M3 || act == QKERN_ACT_FP8_E5M2;
    if (k > 0 && qk_round_up(qk_x86_group(d, k), 8) > QK_X86_MAX_GROUP && !f32_sums) return 0;
    return 1;
}

const char *qk_x86_matmul_kernel_name(const qkern_quant_desc *d, qkern_act_mode act) {
    if (!qk_x86_matmul_supported(d, act, 0)) return NULL;
    {
        const int64_t g = d->group == QKERN_GROUP_DEFAULT ? qk_format_info(d->format)->default_group : d->group;
        const int row = g == QKERN_GROUP_ROW || g == QKERN_GROUP_TENSOR;
        /* per-row: K is not known here (W8A8 needs K % 64 == 0; the packed weights' name tells) */
        const int kind = qk_x86_amx_kind_of(d->format, d->flags, row ? 0 : g, row, act);
        if (kind) return qk_x86_amx_kernel_name(kind);
    }
    switch (act) {
    case QKERN_ACT_I8_DYNAMIC:
        return d->format == QKERN_I8 ? "qk_gemm_i8_i8_8x32c4__avx512vnni" : "qk_gemm_i8_i4_6x32c4__avx512vnni";
    case QKERN_ACT_Q8_0:
        return d->format == QKERN_Q4_0 ? "qk_gemm_q8_0_q4_0_6x32c4__avx512vnni" : "qk_gemm_q8_0_q8_0_6x32c4__avx512vnni";
    case QKERN_ACT_Q8_1: return "qk_gemm_q8_1_q4_1_6x32c4__avx512vnni";
    case QKERN_ACT_LLM_INT8: return "qk_gemm_llm_int8_i8_8x32c4__avx512vnni";
    case QKERN_ACT_FP8_E4M3:
    case QKERN_ACT_FP8_E5M2: {
        /* vdpbf16ps where AVX512_BF16 is there (FP8 → BF16 is exact for both formats), else f32 FMA. */
        static const char *const names[2][2][2] = {
            {{"qk_gemm_fp8_e4m3_fp8_e4m3_8x32c2__avx512vnni", "qk_gemm_fp8_e4m3_fp8_e5m2_8x32c2__avx512vnni"},
             {"qk_gemm_fp8_e5m2_fp8_e4m3_8x32c2__avx512vnni", "qk_gemm_fp8_e5m2_fp8_e5m2_8x32c2__avx512vnni"}},
            {{"qk_gemm_fp8_e4m3_fp8_e4m3_8x32c2__avx512bf16", "qk_gemm_fp8_e4m3_fp8_e5m2_8x32c2__avx512bf16"},
             {"qk_gemm_fp8_e5m2_fp8_e4m3_8x32c2__avx512bf16", "qk_gemm_fp8_e5m2_fp8_e5m2_8x32c2__avx512bf16"}}};
        int bf = (qkern_cpu_features() & QKERN_CPU_AVX512BF16) != 0;
        return names[bf][act == QKERN_ACT_FP8_E5M2][d->format == QKERN_FP8_E5M2];
    }
    case QKERN_ACT_FLOAT: {
        /* the tile the CPU's tunable set runs: 4x32 (common) or 8x16 (AMD Zen); test_x86
         * holds each set to one of these two */
#define QK_F32_NAMES(T)                                                                                     \
    {"qk_gemm_f32_i8_" T "c4__avx512vnni", "qk_gemm_f32_i8_asym_" T "c4__avx512vnni",                          \
     "qk_gemm_f32_i4_" T "c4__avx512vnni", "qk_gemm_f32_q4_0_" T "c4__avx512vnni",                             \
     "qk_gemm_f32_q4_1_" T "c4__avx512vnni", "qk_gemm_f32_q8_0_" T "c4__avx512vnni",                           \
     "qk_gemm_f32_q8_1_" T "c4__avx512vnni", "qk_gemm_f32_nf4_" T "c4__avx512vnni",                            \
     "qk_gemm_f32_fp8_e4m3_" T "c4__avx512vnni", "qk_gemm_f32_fp8_e5m2_" T "c4__avx512vnni"}
        static const char *const names[2][10] = {QK_F32_NAMES("4x32"), QK_F32_NAMES("8x16")};
#undef QK_F32_NAMES
        static const qkern_format order[10] = {QKERN_I8,   QKERN_I8_ASYM, QKERN_I4,  QKERN_Q4_0,     QKERN_Q4_1,
                                               QKERN_Q8_0, QKERN_Q8_1,    QKERN_NF4, QKERN_FP8_E4M3, QKERN_FP8_E5M2};
        const int narrow = qk_x86_tune_for(d->format, act)->nr_panels < 2;
        for (int i = 0; i < 10; i++)
            if (order[i] == d->format) return names[narrow][i];
        return NULL;
    }
    default: return NULL;
    }
}

/* One weight row (output column n) decoded to codes, scales and zero / min per group. */
typedef struct qk_x86_row {
    uint8_t *code;       /* kp codes (padding 0) */
    uint32_t *scale;     /* groups: f32 bits or f16 bits */
    uint8_t *zero;       /* groups (asymmetric I4; I8_ASYM: the int8 zero point's bits) */
    uint16_t *min;       /* groups (Q4_1) */
} qk_x86_row;

/* Scale buffers may sit at any alignment: read through memcpy. */
static float qk_ld_f32(const void *p, size_t i) { float v; memcpy(&v, (const char *)p + i * 4, 4); return v; }
static uint16_t qk_ld_u16(const void *p, size_t i) { uint16_t v; memcpy(&v, (const char *)p + i * 2, 2); return v; }

/* A ggml 4-bit block's 16 bytes as its 32 codes: element j in the low nibble of byte j,
 * element j + 16 in its high nibble. */
static void qk_ggml_nibbles(const uint8_t qs[16], uint8_t *code) {
    for (int j = 0; j < 16; j++) {
        code[j] = qs[j] & 0xF;
        code[j + 16] = qs[j] >> 4;
    }
}

static void qk_x86_decode_row(const qkern_qtensor *w, const qk_layout *L, const qk_x86_packed *P, int64_t n,
                              qk_x86_row *r) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)n * L->row_bytes;
    const int64_t K = P->k;
    memset(r->code, 0, (size_t)(P->groups * P->g));
    switch (P->format) {
    case QKERN_I8:
    case QKERN_FP8_E4M3:
    case QKERN_FP8_E5M2: {
        memcpy(r->code, row, (size_t)K);
        for (int64_t G = 0; G < P->groups; G++) {
            float v = qk_ld_f32(w->scales, L->group == 0 ? 0 : (size_t)(n * L->groups_per_row + G));
            r->scale[G] = qk_f32_bits(v);
        }
        break;
    }
    case QKERN_I8_ASYM: {
        /* int8 codes, f32 scale and int32 zero in [-128, 127] per row or per tensor */
        memcpy(r->code, row, (size_t)K);
        const size_t i = L->group == 0 ? 0 : (size_t)n;
        int32_t z;
        memcpy(&z, (const char *)w->zeros + i * 4, 4);
        r->scale[0] = qk_f32_bits(qk_ld_f32(w->scales, i));
        r->zero[0] = (uint8_t)(int8_t)qk_i8_asym_zero(z); /* clamped into [-128, 127], as the dequantiser does */
        break;
    }
    case QKERN_I4: {
        for (int64_t i = 0; i < K / 2; i++) {
            r->code[2 * i] = row[i] & 0xF;
            r->code[2 * i + 1] = row[i] >> 4;
        }
        const uint8_t *z = w->zeros;
        for (int64_t G = 0; G < P->groups; G++) {
            r->scale[G] = qk_ld_u16(w->scales, (size_t)(n * L->groups_per_row + G));
            if (P->zero_mode == 2) r->zero[G] = z[n * L->groups_per_row + G] > 15 ? 15 : z[n * L->groups_per_row + G];
        }
        break;
    }
    case QKERN_NF4: {
        for (int64_t i = 0; i < K / 2; i++) {
            r->code[2 * i] = row[i] >> 4; /* bitsandbytes: first element in the high nibble */
            r->code[2 * i + 1] = row[i] & 0xF;
        }
        for (int64_t G = 0; G < P->groups; G++)
            r->scale[G] = qk_f32_bits(qk_ld_f32(w->scales, (size_t)(n * L->groups_per_row + G)));
        break;
    }
    case QKERN_Q8_0: {
        for (int64_t G = 0; G < P->groups; G++) {
            qk_block_q8_0 b[1]; /* copied out: the caller's blocks may sit at an odd address */
            memcpy(b, row + (size_t)G * sizeof b[0], sizeof b[0]);
            memcpy(r->code + G * 32, b[0].qs, 32);
            r->scale[G] = b[0].d;
        }
        break;
    }
    case QKERN_Q8_1: { /* as a weight, s is unused: deq = q·d */
        for (int64_t G = 0; G < P->groups; G++) {
            qk_block_q8_1 b[1]; /* copied out: the caller's blocks may sit at an odd address */
            memcpy(b, row + (size_t)G * sizeof b[0], sizeof b[0]);
            memcpy(r->code + G * 32, b[0].qs, 32);
            r->scale[G] = b[0].d;
        }
        break;
    }
    case QKERN_Q4_0: {
        for (int64_t G = 0; G < P->groups; G++) {
            qk_block_q4_0 b[1]; /* copied out: the caller's blocks may sit at an odd address */
            memcpy(b, row + (size_t)G * sizeof b[0], sizeof b[0]);
            qk_ggml_nibbles(b[0].qs, r->code + G * 32);
            r->scale[G] = b[0].d;
        }
        break;
    }
    case QKERN_Q4_1: {
        for (int64_t G = 0; G < P->groups; G++) {
            qk_block_q4_1 b[1]; /* copied out: the caller's blocks may sit at an odd address */
            memcpy(b, row + (size_t)G * sizeof b[0], sizeof b[0]);
            qk_ggml_nibbles(b[0].qs, r->code + G * 32);
            r->scale[G] = b[0].d;
            r->min[G] = b[0].m;
        }
        break;
    }
    default: break;
    }
}

/* The signed weight the integer kernels multiply (code minus its zero point). */
static int qk_x86_qw(const qk_x86_packed *P, const qk_x86_row *r, int64_t G, uint8_t code) {
    if (P->codes == QK_X86_INT8) return (int8_t)code;
    if (P->zero_mode == 1) return (int)code - 8;
    if (P->zero_mode == 2) return (int)code - (int)r->zero[G];
    return code;
}

qkern_status qk_x86_pack(const qkern_qtensor *w, const qkern_matmul_options *opts, qk_x86_packed **out) {
    qk_layout L;
    qkern_status s = qk_resolve_layout(&w->desc, w->rows, w->cols, &L);
    if (s != QKERN_OK) return s;
    qkern_act_mode act = opts ? opts->act : QKERN_ACT_FLOAT;
    if (!qk_x86_matmul_supported(&w->desc, act, w->cols))
        return qk_error(QKERN_UNSUPPORTED, "x86 matmul: %s weights (group %lld) with activation mode %d",
                        qk_format_name(w->desc.format), (long long)w->desc.group, (int)act);
    qk_x86_packed *P = calloc(1, sizeof *P);
    if (!P) return qk_error(QKERN_OUT_OF_MEMORY, "x86 pack: out of memory");
    qkern_format f = w->desc.format;
    P->format = f;
    P->act = act;
    P->bits = qk_x86_bits(f, act);
    P->use_bf16 = P->bits == 16 && (qkern_cpu_features() & QKERN_CPU_AVX512BF16) != 0;
    P->codes = f == QKERN_NF4 ? QK_X86_NF4
               : (f == QKERN_FP8_E4M3 || f == QKERN_FP8_E5M2) ? QK_X86_FP8
               : P->bits == 4 ? QK_X86_NIB : QK_X86_INT8;
    P->scale_f16 = f == QKERN_I4 || f == QKERN_Q4_0 || f == QKERN_Q4_1 || f == QKERN_Q8_0 || f == QKERN_Q8_1;
    P->zero_mode = ((f == QKERN_I4 && (w->desc.flags & QKERN_QUANT_ASYMMETRIC)) || f == QKERN_I8_ASYM) ? 2
                   : (f == QKERN_I4 || f == QKERN_Q4_0) ? 1 : 0;
    P->has_min = f == QKERN_Q4_1;
    if (P->codes == QK_X86_NF4 || P->codes == QK_X86_NIB)
        for (int i = 0; i < 16; i++)
            P->lut[i] = P->codes == QK_X86_NF4 ? qk_nf4_codebook[i]
                        : P->zero_mode == 2      ? (float)i /* the group's zero point comes off later */
                                                 : (float)qk_x86_qw(P, NULL, 0, (uint8_t)i);
    P->n = w->rows;
    int64_t g = qk_x86_group(&w->desc, w->cols);
    int64_t gk = g == w->cols ? qk_round_up(g, P->bits == 4 ? 8 : 4) : g; /* per-row: pad K */
    P->g = gk;
    P->groups = w->cols / g;
    P->k = w->cols;
    P->panels = (P->n + QK_X86_NR - 1) / QK_X86_NR;
    P->code_bytes = (size_t)gk * QK_X86_NR * (size_t)(P->bits == 16 ? 8 : P->bits) / 8;
    if (P->bits == 16) P->row_scale = 1.0f;
    size_t scale_bytes = P->scale_f16 ? 32 : 64;
    size_t extra = P->has_min ? 32 : P->zero_mode == 2 ? 16 : 0;
    P->group_bytes = P->code_bytes + scale_bytes + extra;
    P->amx = qk_x86_amx_kind_of(f, w->desc.flags, P->g, P->groups == 1, act);
    /* the paired layout (x86.h) for Q4_0 × Q8_0 (32-blocks of 256 code bytes + 32 scale
     * bytes); the AMX kinds read groups codes first */
    P->odd_shift = act == QKERN_ACT_Q8_0 && f == QKERN_Q4_0 && P->groups > 1 && P->code_bytes == 256 &&
                           P->group_bytes == 288 && !P->amx
                       ? 32 : 0;
    /* whole lines per panel, so that every panel starts its groups on a line */
    P->panel_bytes = P->group_bytes * (size_t)P->groups;
    if (P->odd_shift) P->panel_bytes = (P->panel_bytes + 63) / 64 * 64;
    P->tune = qk_x86_tune_for(f, act);

    size_t total;
    if (!qk_mul_size(P->panel_bytes, (size_t)P->panels, &total) || !qk_add_size(total, 64, &total)) {
        free(P);
        return qk_error(QKERN_INVALID_ARGUMENT, "x86 pack: packed size overflows size_t");
    }
    P->w = qk_packed_alloc(total);
    P->bias = aligned_alloc(64, (size_t)P->panels * QK_X86_NR * sizeof(float));
    if (P->bits == 16) {
        P->fp8_sub_stride = ((size_t)(P->groups * P->g) / 4 + 7) / 8;
        P->fp8_sub = calloc((size_t)P->panels, P->fp8_sub_stride);
    }
    int int_act = act == QKERN_ACT_I8_DYNAMIC || act == QKERN_ACT_Q8_0 || act == QKERN_ACT_Q8_1 ||
                  act == QKERN_ACT_LLM_INT8;
    P->nib_x8 = int_act && P->codes == QK_X86_NIB && P->zero_mode == 1;
    if (int_act) P->comp = aligned_alloc(64, (size_t)P->panels * (size_t)P->groups * QK_X86_NR * sizeof(int32_t));
    /* I4 × I8 GEMM unpacks panel pairs into buffers lent from this pool (f16 scales: I4);
     * so does the AMX I4 kind */
    const int want_ubufs = (P->nib_x8 && P->tune->unpack_once && act == QKERN_ACT_I8_DYNAMIC && P->scale_f16) ||
                           P->amx == QK_X86_AMX_I4 || P->amx == QK_X86_AMX_Q4_0 || P->bits == 16;
    if (want_ubufs) {
        P->ubufs = calloc(1, sizeof *P->ubufs);
        if (P->ubufs) {
            for (int i = 0; i < QK_X86_UB_SLOTS; i++) atomic_flag_clear(&P->ubufs->used[i]);
            /* a panel pair's int8 codes; FP8 × FP8: its BF16 pairs */
            P->ubufs->bytes = (size_t)(2 * P->groups * P->g) * 16 * (P->bits == 16 ? 2 : 1);
        }
    }
    qk_x86_row r;
    r.code = malloc((size_t)(P->groups * P->g) + 64);
    r.scale = malloc((size_t)P->groups * sizeof(uint32_t));
    r.zero = malloc((size_t)P->groups);
    r.min = malloc((size_t)P->groups * sizeof(uint16_t));
    if (!P->w || !P->bias || (P->bits == 16 && !P->fp8_sub) || (int_act && !P->comp) || (want_ubufs && !P->ubufs) || !r.code || !r.scale || !r.zero || !r.min) {
        free(r.code); free(r.scale); free(r.zero); free(r.min);
        qk_x86_packed_free(P);
        return qk_error(QKERN_OUT_OF_MEMORY, "x86 pack: no memory for %zu packed bytes", total);
    }
    memset(P->w, 0, total);
    for (int64_t j = 0; j < P->panels * QK_X86_NR; j++)
        P->bias[j] = (opts && opts->bias && j < P->n) ? opts->bias[j] : 0.0f;
    if (int_act) memset(P->comp, 0, (size_t)P->panels * (size_t)P->groups * QK_X86_NR * sizeof(int32_t));

    for (int64_t n = 0; n < P->n; n++) {
        qk_x86_decode_row(w, &L, P, n, &r);
        int64_t p = n / QK_X86_NR, j = n % QK_X86_NR;
        for (int64_t G = 0; G < P->groups; G++) {
            uint8_t *pan = P->w + (size_t)p * P->panel_bytes, *grp = pan + qk_x86_code_off(P, G);
            const uint8_t *c = r.code + G * P->g;
            if (P->bits == 16 || P->bits == 8) { /* FP8 × FP8 packs too: the same c4 byte chunks */
                for (int64_t k = 0; k < P->g; k++) {
                    grp[(k / 4) * 64 + j * 4 + k % 4] = c[k];
                    if ((f == QKERN_FP8_E4M3 && (c[k] & 0x7F) == 0x7F) || (f == QKERN_FP8_E5M2 && (c[k] & 0x7C) == 0x7C))
                        P->fp8_nan = 1;
                    if (P->fp8_sub && ((f == QKERN_FP8_E4M3 && (c[k] & 0x78) == 0 && (c[k] & 0x07)) ||
                                       (f == QKERN_FP8_E5M2 && (c[k] & 0x7C) == 0 && (c[k] & 0x03))))
                        qk_x86_fp8_sub_set(P, p, (G * P->g + k) / 4);
                }
            } else {
                const uint8_t x8 = P->nib_x8 ? 8 : 0;
                for (int64_t k = 0; k < P->g; k++) {
                    int64_t v = k / 8, t = k % 8;
                    uint8_t *b = &grp[v * 64 + j * 4 + (t & 3)];
                    uint8_t q = (uint8_t)(c[k] ^ x8);
                    *b = (uint8_t)(t < 4 ? (*b & 0xF0) | q : (*b & 0x0F) | (q << 4));
                }
            }
            uint8_t *sc = pan + qk_x86_tail_off(P, G);
            if (P->scale_f16) {
                uint16_t h = (uint16_t)r.scale[G];
                memcpy(sc + j * 2, &h, 2);
            } else {
                memcpy(sc + j * 4, &r.scale[G], 4);
            }
            uint8_t *ex = sc + (P->scale_f16 ? 32 : 64);
            if (P->has_min) memcpy(ex + j * 2, &r.min[G], 2);
            if (P->zero_mode == 2) ex[j] = r.zero[G];
            if (int_act) {
                /* Over the padded group too: padding activations are qx = 0 (byte 128), so
                 * their 128·qw must be compensated like any other column entry. */
                int32_t sum = 0;
                for (int64_t k = 0; k < P->g; k++) sum += qk_x86_qw(P, &r, G, c[k]);
                P->comp[((size_t)p * (size_t)P->groups + (size_t)G) * QK_X86_NR + (size_t)j] =
                    -128 * (P->nib_x8 ? 16 : 1) * sum;
            }
        }
    }
    free(r.code); free(r.scale); free(r.zero); free(r.min);
    *out = P;
    return QKERN_OK;
}

uint8_t *qk_x86_ubuf_take(qk_x86_ubuf_pool *pool, int *slot) {
    for (int i = 0; i < QK_X86_UB_SLOTS; i++)
        if (!atomic_flag_test_and_set_explicit(&pool->used[i], memory_order_acquire)) {
            if (!pool->buf[i]) pool->buf[i] = aligned_alloc(64, pool->bytes);
            if (!pool->buf[i]) {
                atomic_flag_clear_explicit(&pool->used[i], memory_order_release);
                return NULL;
            }
            *slot = i;
            return pool->buf[i];
        }
    *slot = -1;
    return aligned_alloc(64, pool->bytes);
}

void qk_x86_ubuf_give(qk_x86_ubuf_pool *pool, uint8_t *buf, int slot) {
    if (slot < 0) free(buf);
    else atomic_flag_clear_explicit(&pool->used[slot], memory_order_release);
}

static void qk_x86_ubuf_pool_free(qk_x86_ubuf_pool *pool) {
    if (!pool) return;
    for (int i = 0; i < QK_X86_UB_SLOTS; i++) free(pool->buf[i]);
    free(pool);
}

void qk_x86_packed_free(qk_x86_packed *P) {
    if (!P) return;
    free(P->w);
    free(P->comp);
    free(P->bias);
    free(P->fp8_sub);
    qk_x86_ubuf_pool_free(P->ubufs);
    free(P);
}

/* Every nib_x8 pack (the QK_W4Z8 tiles' weights: I4 or Q4_0 with I8_DYNAMIC or Q8_0
 * activations). Its groups are at most QK_X86_MAX_GROUP, so −128·Σ qx fits in int32. */
int qk_x86_act_signed(const qk_x86_packed *P) {
    return P->nib_x8 && (P->act == QKERN_ACT_I8_DYNAMIC || P->act == QKERN_ACT_Q8_0);
}

/* K bytes padded to 64 (the activation bytes, and the signed copy of them) */
static size_t qk_x86_act_qbytes(const qk_x86_packed *P) { return ((size_t)(P->groups * P->g) + 63) / 64 * 64; }

size_t qk_x86_act_signed_off(const qk_x86_packed *P) {
    size_t nscale = P->act == QKERN_ACT_Q8_0 ? (size_t)P->groups : P->act == QKERN_ACT_Q8_1 ? 2 * (size_t)P->groups : 1;
    return qk_x86_act_qbytes(P) + (nscale * sizeof(float) + 63) / 64 * 64;
}

size_t qk_x86_act_row_bytes(const qk_x86_packed *P) {
    size_t kp = (size_t)(P->groups * P->g);
    if (P->act == QKERN_ACT_FLOAT) /* Q4_1: the row's Σx per group after it (qk_x86_f32_gsum_off) */
        return (kp * sizeof(float) + 63) / 64 * 64 + (P->has_min ? ((size_t)P->groups * 4 + 63) / 64 * 64 : 0);
    if (P->bits == 16) return (kp * 2 + 63) / 64 * 64 + 64;
    size_t bytes = qk_x86_act_signed_off(P);
    if (qk_x86_act_signed(P)) bytes += qk_x86_act_qbytes(P) + ((size_t)P->groups * 8 + 63) / 64 * 64;
    return bytes;
}
