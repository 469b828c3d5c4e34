// The public headers compile as C++ and link against the shared library.
#include <qkern/qkern.h>
#include <cstdio>
#include <cstring>

int main() {
    qkern_context *ctx = nullptr;
    if (qkern_context_create(nullptr, &ctx) != QKERN_OK) {
        std::printf("create failed: %s\n", qkern_last_error());
        return 1;
    }
    qkern_format_info info;
    if (qkern_format_get_info(QKERN_Q4_0, &info) != QKERN_OK || std::strcmp(info.name, "Q4_0") != 0) return 1;
    std::printf("C++: qkern %s, backend %s\n", qkern_version(), qkern_context_backend(ctx));
    qkern_context_destroy(ctx);
    return 0;
}
