/* An engine quantises a weight matrix to GGUF Q4_0 and to GPTQ-style I4 (group 128),
 * then dequantises both and reports the error. Built against the installed package by
 * ci/test.sh (find_package(qkern) and pkg-config). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <qkern/qkern.h>

#define CHECK(call)                                                                  \
    do {                                                                             \
        qkern_status s_ = (call);                                                    \
        if (s_ != QKERN_OK) {                                                        \
            fprintf(stderr, "%s: %s: %s\n", #call, qkern_status_name(s_), qkern_last_error()); \
            return 1;                                                                \
        }                                                                            \
    } while (0)

static int roundtrip(qkern_context *ctx, const float *w, int64_t n, int64_t k, qkern_quant_desc desc) {
    qkern_qtensor q = {desc, n, k, NULL, 0, NULL, 0, NULL, 0};
    CHECK(qkern_qtensor_sizes(&desc, n, k, &q.data_bytes, &q.scales_bytes, &q.zeros_bytes));
    q.data = malloc(q.data_bytes);
    q.scales = q.scales_bytes ? malloc(q.scales_bytes) : NULL;
    q.zeros = q.zeros_bytes ? malloc(q.zeros_bytes) : NULL;
    float *back = malloc((size_t)(n * k) * sizeof *back);
    if (!q.data || !back) return 1;

    CHECK(qkern_quantize(ctx, w, QKERN_F32, (size_t)(n * k) * sizeof *w, &q));
    CHECK(qkern_dequantize(ctx, &q, back, QKERN_F32, (size_t)(n * k) * sizeof *back));

    double err = 0, ref = 0;
    for (int64_t i = 0; i < n * k; i++) {
        err += (back[i] - w[i]) * (double)(back[i] - w[i]);
        ref += (double)w[i] * w[i];
    }
    qkern_format_info info;
    CHECK(qkern_format_get_info(desc.format, &info));
    printf("%-5s %zu bytes (+%zu scale bytes)  relative RMS error %.4f\n", info.name, q.data_bytes,
           q.scales_bytes, sqrt(err / ref));
    free(q.data); free(q.scales); free(q.zeros); free(back);
    return 0;
}

int main(void) {
    const int64_t n = 256, k = 1024; /* N output channels × K inputs */
    float *w = malloc((size_t)(n * k) * sizeof *w);
    if (!w) return 1;
    srand(1);
    for (int64_t i = 0; i < n * k; i++) w[i] = (float)rand() / RAND_MAX - 0.5f;

    qkern_context *ctx;
    CHECK(qkern_context_create(NULL, &ctx)); /* best backend, one thread per core */
    printf("qkern %s on backend %s\n", qkern_version(), qkern_context_backend(ctx));

    int rc = roundtrip(ctx, w, n, k, (qkern_quant_desc){QKERN_Q4_0, QKERN_GROUP_DEFAULT, 0}) ||
             roundtrip(ctx, w, n, k, (qkern_quant_desc){QKERN_I4, 128, QKERN_QUANT_ASYMMETRIC});
    qkern_context_destroy(ctx);
    free(w);
    return rc;
}
