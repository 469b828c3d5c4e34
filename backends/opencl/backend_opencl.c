/* The OpenCL backend's table. Opened only when a context asks for "opencl" by name. */
#include "backends/opencl/ocl_internal.h"

static const char *qk_ocl_kernel_name(void *state, qk_op op, const qkern_quant_desc *d, qkern_act_mode act) {
    if (!state) return NULL;
    if (op == QK_OP_MATMUL) return qk_ocl_matmul_kernel_name(d, act);
    return qk_ocl_quant_kernel_name(op, d);
}

const qk_backend qk_backend_opencl = {
    .name = "opencl",
    .probe = qk_ocl_probe,
    .open = qk_ocl_open,
    .close = qk_ocl_close,
    .kernel_name = qk_ocl_kernel_name,
    .threaded = 0,
    .quantize = qk_ocl_quantize,
    .dequantize = qk_ocl_dequantize,
    .matmul = &qk_ocl_matmul_ops,
};
