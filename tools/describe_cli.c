/* qkern-describe: what this machine offers — CPU features, backends (and why one is
 * unavailable), threads, and which backend + kernel each op × format runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkern/qkern.h>

static int describe(const char *backend, int threads) {
    qkern_context_options o;
    qkern_context_options_init(&o);
    o.backend = backend;
    o.threads = threads;
    qkern_context *ctx = NULL;
    qkern_status s = qkern_context_create(&o, &ctx);
    if (s != QKERN_OK) {
        printf("backend %s: %s: %s\n", backend, qkern_status_name(s), qkern_last_error());
        return 1;
    }
    size_t need = 0;
    qkern_context_describe(ctx, NULL, 0, &need);
    char *buf = malloc(need);
    if (!buf) return 1;
    qkern_context_describe(ctx, buf, need, NULL);
    fputs(buf, stdout);
    free(buf);
    qkern_context_destroy(ctx);
    return 0;
}

int main(int argc, char **argv) {
    const char *backend = "best";
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) backend = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--backend best|scalar|x86|neon|opencl] [--threads N]\n", argv[0]);
            return 2;
        }
    }
    return describe(backend, threads);
}
