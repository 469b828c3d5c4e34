/* NF4 (QLoRA NormalFloat-4), byte-compatible with bitsandbytes' blockwise 4-bit quantiser.
 *
 * Layout: a row of K elements is split into blocks of g elements (desc.group; default 64,
 * any even length dividing K, or the whole row); each block has one f32 absmax in
 * `scales` (row-major: rows × K/g). Data: K/2 bytes per row, two 4-bit codes per byte,
 * the FIRST element (even index) in the HIGH nibble, as bitsandbytes packs
 * (`q[2j] << 4 | q[2j+1]`). 4.5 bits per weight at g = 64.
 *
 * Codebook: bitsandbytes' 16 NF4 values (create_normal_map(0.9677083): quantiles of
 * N(0,1) normalised by the largest, 8 positive, 7 negative, and an exact 0 at index 7),
 * as the float literals its CUDA / CPU kernels use.
 *
 * Quantise (bitsandbytes kQuantizeBlockwise<NF4>, reproduced):
 *   absmax = max |x| over the block, inv = 1.0f / absmax (f32), v = x * inv (f32), and the
 *   code is bitsandbytes' dQuantizeNF4 tree: four strict `v > t` comparisons against
 *   the f32 thresholds below (the midpoints of adjacent codes), root t[7]. A v exactly
 *   equal to a threshold therefore takes the LOWER code; values past ±1 take index 15 / 0.
 * Dequantise: code[q] * absmax (f32).
 *
 * Where qkern decides (bitsandbytes has no rule, or an accidental one):
 *   - absmax is taken over the finite elements only (NaN, ±Inf ignored);
 *   - absmax == 0 (an all-zero block): inv = 0, so every v is 0 and every code is 7 (0.0);
 *     bitsandbytes computes 0 · (1/0) = NaN there and its tree sends NaN to index 0;
 *   - a v that is NaN (a NaN input, or ±Inf in a block with absmax 0) gives code 7 (0.0);
 *   - ±Inf with absmax > 0 gives v = ±Inf, i.e. code 15 / 0 (±absmax on dequantise);
 *   - static scales (QKERN_QUANT_STATIC_SCALES): the caller's absmax is used as is; an
 *     absmax that is not > 0 (0, negative, NaN) behaves as 0 (all codes 7).
 * For finite blocks with absmax > 0 the codes and absmax equal bitsandbytes' bit for bit. */
#ifndef QK_FORMAT_NF4_H
#define QK_FORMAT_NF4_H

#include <stdint.h>

#define QK_NF4_DEFAULT_BLOCK 64
#define QK_NF4_ZERO_CODE 7u

/* bitsandbytes' NF4 codebook, index = 4-bit code. */
static const float qk_nf4_codebook[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* Decision thresholds, qk_nf4_thresholds[i] between code i and i+1, as bitsandbytes'
 * dQuantizeNF4 spells them (f32 literals). */
static const float qk_nf4_thresholds[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

/* v = x / absmax already formed (x * inv). bitsandbytes' dQuantizeNF4 tree, written as
 * index arithmetic instead of nested ifs (the same four comparisons in the same order, so
 * the same code for every v, but without unpredictable branches): the root compares with
 * t[7] (between codes 7 and 8); each level then compares with the middle threshold of the
 * half that is left: t[base+3], t[base+1], t[base]. Strict '>' throughout, so a v equal to
 * a threshold takes the lower code. A NaN v fails every comparison (bitsandbytes would
 * return code 0); qkern maps it to code 7 (0.0). */
static inline uint8_t qk_nf4_encode(float v) {
    const float *t = qk_nf4_thresholds;
    unsigned base = v > t[7] ? 8u : 0u;
    base += v > t[base + 3] ? 4u : 0u;
    base += v > t[base + 1] ? 2u : 0u;
    base += v > t[base] ? 1u : 0u;
    return (uint8_t)(v == v ? base : QK_NF4_ZERO_CODE);
}

/* The multiplier bitsandbytes forms once per block; 0 for an absmax that is not > 0. */
static inline float qk_nf4_inv_absmax(float absmax) { return absmax > 0.0f ? 1.0f / absmax : 0.0f; }

#endif
