/* qkern — low-precision kernels for neural-network inference. The one header to include. */
#ifndef QKERN_H
#define QKERN_H

#include "qkern/status.h"
#include "qkern/format.h"
#include "qkern/context.h"
#include "qkern/quant.h"
#include "qkern/matmul.h"

#endif
