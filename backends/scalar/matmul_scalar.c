/* PLACEHOLDER until the scalar matmul family lands (issue 3): no matmul modes. */
#include "backends/scalar/scalar.h"

const char *qk_matmul_kernel_name__scalar(const qkern_quant_desc *desc, qkern_act_mode act) {
    (void)desc; (void)act;
    return NULL;
}

const qk_matmul_ops qk_matmul_ops__scalar = {0};
