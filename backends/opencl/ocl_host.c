#define _POSIX_C_SOURCE 200809L
/* OpenCL host side: device discovery, per-context state, the program cache
 * (memory + disk), error names, buffer helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "backends/opencl/ocl_internal.h"
#include "kernels/qk_error.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

const char *qk_ocl_error_name(cl_int e) {
    switch (e) {
#define QK_E(x) case x: return #x;
    QK_E(CL_SUCCESS) QK_E(CL_DEVICE_NOT_FOUND) QK_E(CL_DEVICE_NOT_AVAILABLE) QK_E(CL_COMPILER_NOT_AVAILABLE)
    QK_E(CL_MEM_OBJECT_ALLOCATION_FAILURE) QK_E(CL_OUT_OF_RESOURCES) QK_E(CL_OUT_OF_HOST_MEMORY)
    QK_E(CL_PROFILING_INFO_NOT_AVAILABLE) QK_E(CL_MEM_COPY_OVERLAP) QK_E(CL_IMAGE_FORMAT_MISMATCH)
    QK_E(CL_IMAGE_FORMAT_NOT_SUPPORTED) QK_E(CL_BUILD_PROGRAM_FAILURE) QK_E(CL_MAP_FAILURE)
    QK_E(CL_MISALIGNED_SUB_BUFFER_OFFSET) QK_E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    QK_E(CL_COMPILE_PROGRAM_FAILURE) QK_E(CL_LINKER_NOT_AVAILABLE) QK_E(CL_LINK_PROGRAM_FAILURE)
    QK_E(CL_DEVICE_PARTITION_FAILED) QK_E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) QK_E(CL_INVALID_VALUE)
    QK_E(CL_INVALID_DEVICE_TYPE) QK_E(CL_INVALID_PLATFORM) QK_E(CL_INVALID_DEVICE) QK_E(CL_INVALID_CONTEXT)
    QK_E(CL_INVALID_QUEUE_PROPERTIES) QK_E(CL_INVALID_COMMAND_QUEUE) QK_E(CL_INVALID_HOST_PTR)
    QK_E(CL_INVALID_MEM_OBJECT) QK_E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) QK_E(CL_INVALID_IMAGE_SIZE)
    QK_E(CL_INVALID_SAMPLER) QK_E(CL_INVALID_BINARY) QK_E(CL_INVALID_BUILD_OPTIONS) QK_E(CL_INVALID_PROGRAM)
    QK_E(CL_INVALID_PROGRAM_EXECUTABLE) QK_E(CL_INVALID_KERNEL_NAME) QK_E(CL_INVALID_KERNEL_DEFINITION)
    QK_E(CL_INVALID_KERNEL) QK_E(CL_INVALID_ARG_INDEX) QK_E(CL_INVALID_ARG_VALUE) QK_E(CL_INVALID_ARG_SIZE)
    QK_E(CL_INVALID_KERNEL_ARGS) QK_E(CL_INVALID_WORK_DIMENSION) QK_E(CL_INVALID_WORK_GROUP_SIZE)
    QK_E(CL_INVALID_WORK_ITEM_SIZE) QK_E(CL_INVALID_GLOBAL_OFFSET) QK_E(CL_INVALID_EVENT_WAIT_LIST)
    QK_E(CL_INVALID_EVENT) QK_E(CL_INVALID_OPERATION) QK_E(CL_INVALID_GL_OBJECT) QK_E(CL_INVALID_BUFFER_SIZE)
    QK_E(CL_INVALID_MIP_LEVEL) QK_E(CL_INVALID_GLOBAL_WORK_SIZE) QK_E(CL_INVALID_PROPERTY)
    QK_E(CL_INVALID_IMAGE_DESCRIPTOR) QK_E(CL_INVALID_COMPILER_OPTIONS) QK_E(CL_INVALID_LINKER_OPTIONS)
    QK_E(CL_INVALID_DEVICE_PARTITION_COUNT) QK_E(CL_PLATFORM_NOT_FOUND_KHR)
#undef QK_E
    default: {
        static _Thread_local char buf[32];
        snprintf(buf, sizeof buf, "CL_ERROR(%d)", (int)e);
        return buf;
    }
    }
}

qkern_status qk_ocl_fail(cl_int err, const char *what) {
    if (err == CL_OUT_OF_HOST_MEMORY)
        return qk_error(QKERN_OUT_OF_MEMORY, "opencl: %s: %s", what, qk_ocl_error_name(err));
    return qk_error(QKERN_DEVICE_ERROR, "opencl: %s: %s", what, qk_ocl_error_name(err));
}

/* ---- discovery ------------------------------------------------------------------ */

typedef struct qk_ocl_pick {
    cl_platform_id platform;
    cl_device_id device;
} qk_ocl_pick;

/* The device to use: QKERN_OPENCL_DEVICE="<platform>:<device>" (indices) if set, else
 * the first GPU / accelerator of any platform, else the first device at all. */
static int qk_ocl_find(qk_ocl_pick *pick, char *why, size_t why_size) {
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(0, NULL, &np);
    if (e != CL_SUCCESS || np == 0) {
        snprintf(why, why_size, "no OpenCL platform (clGetPlatformIDs: %s)",
                 e != CL_SUCCESS ? qk_ocl_error_name(e) : "0 platforms");
        return 0;
    }
    cl_platform_id plats[16];
    if (np > 16) np = 16;
    e = clGetPlatformIDs(np, plats, NULL);
    if (e != CL_SUCCESS) {
        snprintf(why, why_size, "no OpenCL platform (clGetPlatformIDs: %s)", qk_ocl_error_name(e));
        return 0;
    }
    int want_p = -1, want_d = -1;
    const char *env = getenv("QKERN_OPENCL_DEVICE");
    if (env && *env && sscanf(env, "%d:%d", &want_p, &want_d) != 2) want_p = want_d = -1;
    int found = 0; /* 1: some device, 2: a GPU / accelerator (kept once found) */
    cl_int last = CL_DEVICE_NOT_FOUND;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        e = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd);
        if (e != CL_SUCCESS || nd == 0) { last = e != CL_SUCCESS ? e : CL_DEVICE_NOT_FOUND; continue; }
        if (nd > 16) nd = 16;
        for (cl_uint d = 0; d < nd; d++) {
            if (want_p >= 0) {
                if ((int)p == want_p && (int)d == want_d) { pick->platform = plats[p]; pick->device = devs[d]; return 1; }
                continue;
            }
            cl_device_type t = 0;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof t, &t, NULL);
            int rank = (t & (CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR)) ? 2 : 1;
            if (rank > found) { pick->platform = plats[p]; pick->device = devs[d]; found = rank; }
        }
    }
    if (want_p >= 0) {
        snprintf(why, why_size, "QKERN_OPENCL_DEVICE=%s names no device", env);
        return 0;
    }
    if (!found) {
        snprintf(why, why_size, "no OpenCL device (%u platform%s, clGetDeviceIDs: %s)", np, np == 1 ? "" : "s",
                 qk_ocl_error_name(last));
        return 0;
    }
    return 1;
}

int qk_ocl_probe(uint64_t cpu, char *why, size_t why_size) {
    (void)cpu;
    qk_ocl_pick pick;
    return qk_ocl_find(&pick, why, why_size);
}

static _Thread_local cl_command_queue qk_ocl_pending_queue;

void qk_ocl_set_pending_queue(cl_command_queue q) { qk_ocl_pending_queue = q; }

static void qk_ocl_cache_dir(char *dir, size_t n) {
    const char *d = getenv("QKERN_OPENCL_CACHE_DIR");
    dir[0] = '\0';
    if (d) {
        if (*d) snprintf(dir, n, "%s", d); /* set but empty: disk cache off */
        return;
    }
    d = getenv("XDG_CACHE_HOME");
    if (d && *d) { snprintf(dir, n, "%s/qkern", d); return; }
    d = getenv("HOME");
    if (d && *d) snprintf(dir, n, "%s/.cache/qkern", d);
}

static int qk_ocl_has_ext(cl_device_id dev, const char *ext) {
    size_t len = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &len) != CL_SUCCESS || len == 0) return 0;
    char *s = malloc(len + 1);
    if (!s) return 0;
    int has = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, len, s, NULL) == CL_SUCCESS) {
        s[len] = '\0';
        size_t el = strlen(ext);
        for (char *p = strstr(s, ext); p; p = strstr(p + 1, ext))
            if ((p == s || p[-1] == ' ') && (p[el] == ' ' || p[el] == '\0')) { has = 1; break; }
    }
    free(s);
    return has;
}

qkern_status qk_ocl_open(uint64_t cpu, void **state, char *why, size_t why_size) {
    (void)cpu;
    *state = NULL;
    qk_ocl *st = calloc(1, sizeof *st);
    if (!st) { snprintf(why, why_size, "out of memory"); return QKERN_OUT_OF_MEMORY; }
    cl_int e = CL_SUCCESS;
    cl_command_queue adopt = qk_ocl_pending_queue;
    qk_ocl_pending_queue = NULL;
    if (adopt) {
        /* The engine's queue: its context and device are the ones its cl_mem live in. */
        e = clGetCommandQueueInfo(adopt, CL_QUEUE_CONTEXT, sizeof st->context, &st->context, NULL);
        if (e == CL_SUCCESS) e = clGetCommandQueueInfo(adopt, CL_QUEUE_DEVICE, sizeof st->device, &st->device, NULL);
        if (e == CL_SUCCESS)
            e = clGetDeviceInfo(st->device, CL_DEVICE_PLATFORM, sizeof st->platform, &st->platform, NULL);
        if (e != CL_SUCCESS) {
            snprintf(why, why_size, "the engine's command queue: %s", qk_ocl_error_name(e));
            free(st);
            return QKERN_INVALID_ARGUMENT;
        }
        clRetainContext(st->context);
        clRetainCommandQueue(adopt);
        st->queue = adopt;
        st->adopted = 1;
    } else {
        qk_ocl_pick pick;
        if (!qk_ocl_find(&pick, why, why_size)) { free(st); return QKERN_BACKEND_UNAVAILABLE; }
        st->platform = pick.platform;
        st->device = pick.device;
        st->context = clCreateContext(NULL, 1, &st->device, NULL, NULL, &e);
        if (!st->context || e != CL_SUCCESS) {
            snprintf(why, why_size, "clCreateContext: %s", qk_ocl_error_name(e));
            free(st);
            return QKERN_BACKEND_UNAVAILABLE;
        }
        st->queue = clCreateCommandQueue(st->context, st->device, 0, &e);
        if (!st->queue || e != CL_SUCCESS) {
            snprintf(why, why_size, "clCreateCommandQueue: %s", qk_ocl_error_name(e));
            clReleaseContext(st->context);
            free(st);
            return QKERN_BACKEND_UNAVAILABLE;
        }
    }
    clGetDeviceInfo(st->device, CL_DEVICE_NAME, sizeof st->device_name - 1, st->device_name, NULL);
    clGetDeviceInfo(st->device, CL_DRIVER_VERSION, sizeof st->driver_version - 1, st->driver_version, NULL);
    clGetPlatformInfo(st->platform, CL_PLATFORM_NAME, sizeof st->platform_name - 1, st->platform_name, NULL);
    clGetDeviceInfo(st->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof st->max_alloc, &st->max_alloc, NULL);
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(st->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    st->correct_div = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    st->has_fp64 = qk_ocl_has_ext(st->device, "cl_khr_fp64");
    st->has_int_dot = qk_ocl_has_ext(st->device, "cl_khr_integer_dot_product");
    qk_ocl_cache_dir(st->cache_dir, sizeof st->cache_dir);
    pthread_mutex_init(&st->lock, NULL);
    *state = st;
    return QKERN_OK;
}

void qk_ocl_close(void *state) {
    qk_ocl *st = state;
    if (!st) return;
    for (qk_ocl_prog *p = st->progs, *next; p; p = next) {
        next = p->next;
        clReleaseProgram(p->prog);
        free(p->key);
        free(p);
    }
    for (qk_ocl_kern *k = st->kerns, *next; k; k = next) {
        next = k->next;
        clReleaseKernel(k->kernel);
        free(k->key);
        free(k);
    }
    for (int i = 0; i < QK_OCL_SCR_COUNT; i++)
        if (st->scr[i]) clReleaseMemObject(st->scr[i]);
    if (st->queue) clReleaseCommandQueue(st->queue);
    if (st->context) clReleaseContext(st->context);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const char *qk_ocl_base_options(const qk_ocl *st) {
    /* Exact f32 division (activation scales, reciprocals): through double where the device
     * has it (a double quotient of two floats rounds to the correctly rounded float), else
     * the correctly-rounded-divide build option; devices with neither get no integer modes. */
    if (st->has_fp64) return st->has_int_dot ? "-cl-std=CL1.2 -D QK_FP64=1 -D QK_INT_DOT=1" : "-cl-std=CL1.2 -D QK_FP64=1";
    if (st->correct_div)
        return st->has_int_dot ? "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt -D QK_INT_DOT=1"
                               : "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt";
    return "-cl-std=CL1.2 -D QK_INEXACT_DIV=1";
}

/* ---- program cache --------------------------------------------------------------- */

static uint64_t qk_fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) { h ^= c[i]; h *= 0x100000001b3ull; }
    return h;
}
#define QK_FNV0 0xcbf29ce484222325ull

static const char qk_cache_magic[8] = {'Q', 'K', 'C', 'L', 'B', 'I', 'N', '1'};

static int qk_mkdirs(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return 0;
        *p = '/';
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

/* The sources of a '+'-joined file list, prelude first; NULL if a file is not embedded. */
static int qk_ocl_sources(const char *files, const char **srcs, int cap) {
    int n = 0;
    srcs[n++] = qk_opencl_source("common.cl");
    if (!srcs[0]) return 0;
    char name[128];
    for (const char *p = files; *p && n < cap;) {
        const char *e = strchr(p, '+');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || len >= sizeof name) return 0;
        memcpy(name, p, len);
        name[len] = '\0';
        if (!(srcs[n++] = qk_opencl_source(name))) return 0;
        p += len + (e ? 1 : 0);
    }
    return n;
}


/* A hash of every source text of the program. */
static uint64_t qk_ocl_source_hash(const char *files, int *ok) {
    const char *srcs[8];
    int n = qk_ocl_sources(files, srcs, 8);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = qk_fnv(h, srcs[i], strlen(srcs[i]));
    *ok = n > 0;
    return h;
}

/* The disk key names everything the binary depends on; the file name is its hash. */
static char *qk_disk_key(const qk_ocl *st, const char *file, const char *options, uint64_t hs) {
    size_t n = strlen(st->device_name) + strlen(st->driver_version) + strlen(st->platform_name) + strlen(file) +
               strlen(options) + 64;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\n%s\n%s\n%s\n%s\n%016llx", st->device_name, st->driver_version, st->platform_name, file,
                 options, (unsigned long long)hs);
    return k;
}

static void qk_disk_path(const qk_ocl *st, const char *key, char *path, size_t n) {
    snprintf(path, n, "%s/qkcl-%016llx.bin", st->cache_dir, (unsigned long long)qk_fnv(QK_FNV0, key, strlen(key)));
}

/* Loads a cached binary; 0 (and counts a reject when a file existed) if absent or unusable. */
static int qk_disk_load(qk_ocl *st, const char *key, const char *options, cl_program *out) {
    char path[1200];
    qk_disk_path(st, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = 0;
    unsigned char *bin = NULL;
    char *fkey = NULL;
    char magic[8];
    uint64_t klen = 0, blen = 0, sum = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, qk_cache_magic, 8) != 0) goto done;
    if (fread(&klen, 8, 1, f) != 1 || klen != strlen(key)) goto done;
    fkey = malloc(klen + 1);
    if (!fkey || fread(fkey, 1, klen, f) != klen || memcmp(fkey, key, klen) != 0) goto done;
    if (fread(&blen, 8, 1, f) != 1 || blen == 0 || blen > ((uint64_t)1 << 30)) goto done;
    bin = malloc(blen);
    if (!bin || fread(bin, 1, blen, f) != blen || fread(&sum, 8, 1, f) != 1) goto done;
    if (qk_fnv(qk_fnv(QK_FNV0, key, klen), bin, blen) != sum) goto done;
    size_t len = (size_t)blen;
    const unsigned char *bp = bin;
    cl_int bs = CL_SUCCESS, e = CL_SUCCESS;
    cl_program p = clCreateProgramWithBinary(st->context, 1, &st->device, &len, &bp, &bs, &e);
    if (!p || e != CL_SUCCESS || bs != CL_SUCCESS) { if (p) clReleaseProgram(p); goto done; }
    if (clBuildProgram(p, 1, &st->device, options, NULL, NULL) != CL_SUCCESS) { clReleaseProgram(p); goto done; }
    *out = p;
    ok = 1;
done:
    fclose(f);
    free(bin);
    free(fkey);
    if (!ok) st->stats.disk_rejects++;
    return ok;
}

/* temp + rename: a reader never sees a half-written entry; failures only cost a rebuild later. */
static void qk_disk_store(qk_ocl *st, const char *key, cl_program p) {
    size_t len = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS || len == 0) return;
    unsigned char *bin = malloc(len);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS || !qk_mkdirs(st->cache_dir)) {
        free(bin);
        return;
    }
    char path[1200], tmp[1300];
    qk_disk_path(st, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) { free(bin); return; }
    FILE *f = fdopen(fd, "wb");
    if (!f) { close(fd); unlink(tmp); free(bin); return; }
    uint64_t klen = strlen(key), blen = len, sum = qk_fnv(qk_fnv(QK_FNV0, key, strlen(key)), bin, len);
    int ok = fwrite(qk_cache_magic, 1, 8, f) == 8 && fwrite(&klen, 8, 1, f) == 1 && fwrite(key, 1, klen, f) == klen &&
             fwrite(&blen, 8, 1, f) == 1 && fwrite(bin, 1, len, f) == len && fwrite(&sum, 8, 1, f) == 1;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) == 0) st->stats.disk_writes++;
    else unlink(tmp);
    free(bin);
}

static qkern_status qk_build_from_source(qk_ocl *st, const char *file, const char *options, cl_program *out) {
    const char *srcs[8];
    int nsrc = qk_ocl_sources(file, srcs, 8);
    if (nsrc == 0) return qk_error(QKERN_DEVICE_ERROR, "opencl: kernel source %s is not embedded", file);
    cl_int e = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(st->context, (cl_uint)nsrc, srcs, NULL, &e);
    if (!p || e != CL_SUCCESS) return qk_ocl_fail(e, "clCreateProgramWithSource");
    e = clBuildProgram(p, 1, &st->device, options, NULL, NULL);
    st->stats.builds++;
    if (e != CL_SUCCESS) {
        char log[4096];
        size_t n = 0;
        log[0] = '\0';
        if (clGetProgramBuildInfo(p, st->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n) != CL_SUCCESS) n = 0;
        log[n < sizeof log ? n : sizeof log - 1] = '\0';
        clReleaseProgram(p);
        return qk_error(e == CL_OUT_OF_HOST_MEMORY ? QKERN_OUT_OF_MEMORY : QKERN_DEVICE_ERROR,
                        "opencl: building %s with \"%s\" failed: %s; build log: %s", file, options,
                        qk_ocl_error_name(e), log[0] ? log : "(empty)");
    }
    *out = p;
    return QKERN_OK;
}

qkern_status qk_ocl_program(qk_ocl *st, const char *file, const char *options, cl_program *out) {
    size_t klen = strlen(file) + strlen(options) + 2;
    char *key = malloc(klen);
    if (!key) return qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory");
    snprintf(key, klen, "%s\n%s", file, options);
    for (qk_ocl_prog *p = st->progs; p; p = p->next) {
        if (strcmp(p->key, key) == 0) {
            st->stats.memory_hits++;
            free(key);
            *out = p->prog;
            return QKERN_OK;
        }
    }
    qk_ocl_prog *node = calloc(1, sizeof *node);
    if (!node) { free(key); return qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory"); }
    int have_src = 0;
    uint64_t hs = qk_ocl_source_hash(file, &have_src);
    char *dkey = (st->cache_dir[0] && have_src) ? qk_disk_key(st, file, options, hs) : NULL;
    cl_program prog = NULL;
    if (dkey && qk_disk_load(st, dkey, options, &prog)) {
        st->stats.disk_hits++;
    } else {
        qkern_status s = qk_build_from_source(st, file, options, &prog);
        if (s != QKERN_OK) { free(dkey); free(key); free(node); return s; }
        if (dkey) qk_disk_store(st, dkey, prog);
    }
    free(dkey);
    node->key = key;
    node->prog = prog;
    node->next = st->progs;
    st->progs = node;
    *out = prog;
    return QKERN_OK;
}

qkern_status qk_ocl_kernel(qk_ocl *st, const char *file, const char *options, const char *name, cl_kernel *out) {
    cl_program p;
    qkern_status s = qk_ocl_program(st, file, options, &p);
    if (s != QKERN_OK) return s;
    cl_int e = CL_SUCCESS;
    *out = clCreateKernel(p, name, &e);
    if (!*out || e != CL_SUCCESS) return qk_ocl_fail(e, name);
    return QKERN_OK;
}

qkern_status qk_ocl_kernel_cached(qk_ocl *st, const char *file, const char *options, const char *name, cl_kernel *out) {
    size_t klen = strlen(file) + strlen(options) + strlen(name) + 3;
    char *key = malloc(klen);
    if (!key) return qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory");
    snprintf(key, klen, "%s\n%s\n%s", file, options, name);
    for (qk_ocl_kern *k = st->kerns; k; k = k->next) {
        if (strcmp(k->key, key) == 0) {
            free(key);
            *out = k->kernel;
            return QKERN_OK;
        }
    }
    qk_ocl_kern *node = calloc(1, sizeof *node);
    qkern_status s = node ? qk_ocl_kernel(st, file, options, name, out)
                          : qk_error(QKERN_OUT_OF_MEMORY, "opencl: out of memory");
    if (s != QKERN_OK) { free(node); free(key); return s; }
    node->key = key;
    node->kernel = *out;
    node->next = st->kerns;
    st->kerns = node;
    return QKERN_OK;
}

/* ---- buffers and launches -------------------------------------------------------- */

qkern_status qk_ocl_scratch(qk_ocl *st, int slot, size_t bytes, cl_mem *out) {
    if (bytes == 0) bytes = 16;
    if (st->scr[slot] && st->scr_bytes[slot] >= bytes) { *out = st->scr[slot]; return QKERN_OK; }
    /* Grow by 1.5x so a slowly growing M does not reallocate every call. */
    size_t want = bytes + bytes / 2;
    if (st->max_alloc && want > st->max_alloc) want = bytes;
    cl_mem m = NULL;
    qkern_status s = qk_ocl_alloc(st, want, CL_MEM_READ_WRITE, &m);
    if (s != QKERN_OK) return s;
    if (st->scr[slot]) clReleaseMemObject(st->scr[slot]); /* enqueued users keep it alive */
    st->scr[slot] = m;
    st->scr_bytes[slot] = want;
    *out = m;
    return QKERN_OK;
}

qkern_status qk_ocl_alloc(qk_ocl *st, size_t bytes, cl_mem_flags flags, cl_mem *out) {
    if (bytes == 0) bytes = 16;
    if (st->max_alloc && bytes > st->max_alloc)
        return qk_error(QKERN_DEVICE_ERROR, "opencl: a %zu-byte buffer exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE=%llu", bytes,
                        (unsigned long long)st->max_alloc);
    cl_int e = CL_SUCCESS;
    *out = clCreateBuffer(st->context, flags, bytes, NULL, &e);
    if (!*out || e != CL_SUCCESS) return qk_ocl_fail(e, "clCreateBuffer");
    return QKERN_OK;
}

qkern_status qk_ocl_upload(qk_ocl *st, const void *src, size_t bytes, cl_mem_flags flags, cl_mem *out) {
    if (bytes == 0 || !src) return qk_ocl_alloc(st, bytes, flags, out);
    if (st->max_alloc && bytes > st->max_alloc)
        return qk_error(QKERN_DEVICE_ERROR, "opencl: a %zu-byte buffer exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE=%llu", bytes,
                        (unsigned long long)st->max_alloc);
    cl_int e = CL_SUCCESS;
    *out = clCreateBuffer(st->context, flags | CL_MEM_COPY_HOST_PTR, bytes, (void *)(uintptr_t)src, &e);
    if (!*out || e != CL_SUCCESS) return qk_ocl_fail(e, "clCreateBuffer");
    return QKERN_OK;
}

cl_int qk_ocl_set_args(cl_kernel k, int n, const size_t *sizes, const void *const *ptrs) {
    for (int i = 0; i < n; i++) {
        cl_int e = clSetKernelArg(k, (cl_uint)i, sizes[i], ptrs[i]);
        if (e != CL_SUCCESS) return e;
    }
    return CL_SUCCESS;
}

cl_int qk_ocl_run2d(cl_command_queue q, cl_kernel k, size_t g0, size_t g1, size_t l0, size_t l1) {
    size_t local[2] = {l0, l1};
    size_t global[2] = {(g0 + l0 - 1) / l0 * l0, (g1 + l1 - 1) / l1 * l1};
    return clEnqueueNDRangeKernel(q, k, 2, NULL, global, local, 0, NULL, NULL);
}
