/* OpenCL quantize / dequantize: the host-pointer op over rows [r0, r1). Inputs are
 * uploaded, one kernel runs per (row, group / block), outputs are read back only after
 * every command succeeded, so a failure leaves dst untouched. */
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/format_internal.h"
#include "kernels/qk_error.h"

const char *qk_ocl_quant_kernel_name(qk_op op, const qkern_quant_desc *d) {
    if (op == QK_OP_QUANTIZE) {
        switch (d->format) {
        case QKERN_I8: return "qk_quant_i8__opencl";
        case QKERN_Q8_0: return "qk_quant_q8_0__opencl";
        case QKERN_Q8_1: return "qk_quant_q8_1__opencl";
        default: return NULL;
        }
    }
    return NULL;
}

qkern_status qk_ocl_quantize(void *state, const float *src, const qkern_qtensor *dst, int64_t r0, int64_t r1) {
    qk_ocl *st = state;
    qk_layout L;
    qkern_status s = qk_resolve_layout(&dst->desc, dst->rows, dst->cols, &L);
    if (s != QKERN_OK) return s;
    const int64_t rows = r1 - r0, cols = dst->cols;
    if (rows <= 0) return QKERN_OK;
    if (cols > INT32_MAX / 4 || (uint64_t)rows * (uint64_t)cols > (uint64_t)INT32_MAX)
        return qk_error(QKERN_UNSUPPORTED, "opencl quantize: %lld × %lld exceeds the kernels' 32-bit indices",
                        (long long)rows, (long long)cols);
    const qkern_format f = dst->desc.format;
    const int icols = (int)cols, zero = 0;
    const size_t dbytes = (size_t)rows * L.row_bytes;
    const size_t n_sc = f == QKERN_I8 ? (size_t)rows * (size_t)L.groups_per_row : 0;
    const int stat = (dst->desc.flags & QKERN_QUANT_STATIC_SCALES) != 0;
    pthread_mutex_lock(&st->lock);
    cl_mem xb = NULL, db = NULL, sb = NULL;
    cl_kernel k = NULL;
    cl_int e = CL_SUCCESS;
    s = qk_ocl_upload(st, src + r0 * cols, (size_t)rows * (size_t)cols * sizeof(float), CL_MEM_READ_ONLY, &xb);
    if (s == QKERN_OK) s = qk_ocl_alloc(st, dbytes, CL_MEM_READ_WRITE, &db);
    if (s == QKERN_OK && n_sc) {
        const float *sc = (const float *)dst->scales + (size_t)r0 * (size_t)L.groups_per_row;
        s = stat ? qk_ocl_upload(st, sc, n_sc * sizeof(float), CL_MEM_READ_WRITE, &sb)
                 : qk_ocl_alloc(st, n_sc * sizeof(float), CL_MEM_READ_WRITE, &sb);
    }
    const char *base = qk_ocl_base_options(st);
    if (s == QKERN_OK) {
        if (f == QKERN_I8) {
            s = qk_ocl_kernel(st, "quant_act.cl", base, "qk_quant_i8", &k);
            int gl = (int)L.group, groups = (int)L.groups_per_row;
            const size_t sz[] = {sizeof(cl_mem), sizeof(int), sizeof(int), sizeof(int), sizeof(int),
                                 sizeof(cl_mem), sizeof(int), sizeof(cl_mem), sizeof(int)};
            const void *ptr[] = {&xb, &zero, &icols, &gl, &groups, &db, &icols, &sb, &stat};
            if (s == QKERN_OK) e = qk_ocl_set_args(k, 9, sz, ptr);
            if (s == QKERN_OK && e == CL_SUCCESS) e = qk_ocl_run2d(st->queue, k, (size_t)groups, (size_t)rows, 1, 1);
        } else if (f == QKERN_Q8_0 || f == QKERN_Q8_1) {
            s = qk_ocl_kernel(st, "quant_act.cl", base, f == QKERN_Q8_0 ? "qk_q8_0_blocks" : "qk_q8_1_blocks", &k);
            int nb = icols / 32, rb = (int)L.row_bytes;
            const size_t sz[] = {sizeof(cl_mem), sizeof(int), sizeof(int), sizeof(int), sizeof(cl_mem), sizeof(int)};
            const void *ptr[] = {&xb, &zero, &icols, &nb, &db, &rb};
            if (s == QKERN_OK) e = qk_ocl_set_args(k, 6, sz, ptr);
            if (s == QKERN_OK && e == CL_SUCCESS) e = qk_ocl_run2d(st->queue, k, (size_t)nb, (size_t)rows, 1, 1);
        } else {
            s = qk_error(QKERN_UNSUPPORTED, "opencl quantize: %s", qk_format_name(f));
        }
        if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, "quantize launch");
    }
    if (s == QKERN_OK) {
        /* Staged reads: dst is written only once the device finished without error. */
        void *dtmp = malloc(dbytes), *stmp = n_sc ? malloc(n_sc * sizeof(float)) : NULL;
        if (!dtmp || (n_sc && !stmp)) s = qk_error(QKERN_OUT_OF_MEMORY, "opencl quantize: out of memory");
        if (s == QKERN_OK) e = clEnqueueReadBuffer(st->queue, db, CL_TRUE, 0, dbytes, dtmp, 0, NULL, NULL);
        if (s == QKERN_OK && e == CL_SUCCESS && n_sc)
            e = clEnqueueReadBuffer(st->queue, sb, CL_TRUE, 0, n_sc * sizeof(float), stmp, 0, NULL, NULL);
        if (s == QKERN_OK && e != CL_SUCCESS) s = qk_ocl_fail(e, "reading the quantised tensor");
        if (s == QKERN_OK) {
            memcpy((unsigned char *)dst->data + (size_t)r0 * L.row_bytes, dtmp, dbytes);
            if (n_sc && !stat)
                memcpy((float *)dst->scales + (size_t)r0 * (size_t)L.groups_per_row, stmp, n_sc * sizeof(float));
        }
        free(dtmp);
        free(stmp);
    }
    if (k) clReleaseKernel(k);
    if (xb) clReleaseMemObject(xb);
    if (db) clReleaseMemObject(db);
    if (sb) clReleaseMemObject(sb);
    pthread_mutex_unlock(&st->lock);
    return s;
}

qkern_status qk_ocl_dequantize(void *state, const qkern_qtensor *src, float *dst, int64_t r0, int64_t r1) {
    (void)state; (void)dst; (void)r0; (void)r1;
    return qk_error(QKERN_UNSUPPORTED, "opencl dequantize: %s", qk_format_name(src->desc.format));
}
