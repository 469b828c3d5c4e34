/* The context: detects the CPU once, probes and opens every compiled-in backend,
 * picks the preferred one, owns the thread pool. Dispatch is a lookup in this table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kernels/context_internal.h"
#include "kernels/cpu_features.h"
#include "kernels/qk_error.h"
#include "qkern/quant.h"

#define QK_STR2(x) #x
#define QK_STR(x) QK_STR2(x)

const char *qkern_version(void) {
    return QK_STR(QKERN_VERSION_MAJOR) "." QK_STR(QKERN_VERSION_MINOR) "." QK_STR(QKERN_VERSION_PATCH);
}

void qkern_version_numbers(int *major, int *minor, int *patch) {
    if (major) *major = QKERN_VERSION_MAJOR;
    if (minor) *minor = QKERN_VERSION_MINOR;
    if (patch) *patch = QKERN_VERSION_PATCH;
}

/* Preference order for "best": the most specific backend first, scalar last. OpenCL
 * is never picked by "best" on its own: on a CPU-only OpenCL device it is slower
 * than the native CPU backends; ask for it by name. */
static const qk_backend *const qk_registry[] = {
#if defined(QKERN_HAVE_X86)
    &qk_backend_x86,
#endif
#if defined(QKERN_HAVE_NEON)
    &qk_backend_neon,
#endif
#if defined(QKERN_HAVE_OPENCL)
    &qk_backend_opencl,
#endif
    &qk_backend_scalar,
};

void qkern_context_options_init(qkern_context_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->backend = "best";
}

static int qk_online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 256 ? 256 : (int)n);
}

qkern_status qkern_context_create(const qkern_context_options *opts, qkern_context **out) {
    qk_error_clear();
    if (!out) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_context_create: ctx out-pointer is NULL");
    *out = NULL;
    qkern_context_options defaults;
    qkern_context_options_init(&defaults);
    if (!opts) opts = &defaults;
    if (opts->threads < 0 || opts->threads > 1024)
        return qk_error(QKERN_INVALID_ARGUMENT, "qkern_context_create: threads=%d is outside [0, 1024]", opts->threads);

    const char *want = getenv("QKERN_BACKEND");
    const char *want_source = "QKERN_BACKEND";
    if (!want || !*want) { want = opts->backend; want_source = "options.backend"; }
    if (!want || !*want) want = "best";

    qkern_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return qk_error(QKERN_OUT_OF_MEMORY, "qkern_context_create: out of memory");
    ctx->cpu = qk_cpu_features_raw() &
               ~qk_cpu_disable_mask(getenv("QKERN_DISABLE"), ctx->disable_unknown, sizeof ctx->disable_unknown);
    ctx->preferred = -1;

    int known = strcasecmp(want, "best") == 0;
    for (size_t i = 0; i < sizeof qk_registry / sizeof qk_registry[0]; i++) {
        qk_backend_slot *s = &ctx->slots[ctx->n_slots];
        s->b = qk_registry[i];
        if (strcasecmp(want, s->b->name) == 0) known = 1;
        if (s->b->open && strcasecmp(want, s->b->name) != 0) {
            /* Device backends (OpenCL) are probed and opened only when asked for by name:
             * loading an ICD and its compiler costs ~1 s and memory an engine did not ask for. */
            s->available = 0;
            snprintf(s->why, sizeof s->why, "not probed (select it with backend=\"%s\")", s->b->name);
        } else {
            s->available = s->b->probe ? s->b->probe(ctx->cpu, s->why, sizeof s->why) : 1;
            if (s->available && s->b->open &&
                s->b->open(ctx->cpu, &s->state, s->why, sizeof s->why) != QKERN_OK)
                s->available = 0;
        }
        if (strcmp(s->b->name, "scalar") == 0) ctx->scalar = ctx->n_slots;
        ctx->n_slots++;
    }
    if (!known) {
        static const char *const all[] = {"x86", "neon", "opencl"};
        qkern_status st = QKERN_INVALID_ARGUMENT;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (strcasecmp(want, all[i]) == 0) st = QKERN_BACKEND_UNAVAILABLE;
        char built[64] = "";
        for (int i = 0; i < ctx->n_slots; i++) {
            strncat(built, i ? ", " : "", sizeof built - strlen(built) - 1);
            strncat(built, ctx->slots[i].b->name, sizeof built - strlen(built) - 1);
        }
        qkern_context_destroy(ctx);
        if (st == QKERN_BACKEND_UNAVAILABLE)
            return qk_error(st, "backend \"%s\" (%s) is not compiled into this build of qkern (it has: %s)", want,
                            want_source, built);
        return qk_error(st, "%s=\"%s\" is not a backend (scalar, x86, neon, opencl, best)", want_source, want);
    }
    for (int i = 0; i < ctx->n_slots; i++) {
        qk_backend_slot *s = &ctx->slots[i];
        int match = strcasecmp(want, "best") == 0 ? (s->b->open == NULL) : strcasecmp(want, s->b->name) == 0;
        if (!match) continue;
        if (!s->available && strcasecmp(want, "best") != 0) {
            qkern_status st = qk_error(QKERN_BACKEND_UNAVAILABLE, "backend \"%s\" (%s) is unavailable: %s",
                                       s->b->name, want_source, s->why);
            qkern_context_destroy(ctx);
            return st;
        }
        if (s->available) { ctx->preferred = i; break; }
    }
    if (ctx->preferred < 0) ctx->preferred = ctx->scalar;

    ctx->parallel_for = opts->parallel_for;
    ctx->parallel_for_user = opts->parallel_for_user;
    ctx->threads = opts->threads ? opts->threads : qk_online_cores();
    if (!ctx->parallel_for && ctx->threads > 1) {
        ctx->pool = qk_pool_create(ctx->threads);
        if (!ctx->pool) {
            qkern_context_destroy(ctx);
            return qk_error(QKERN_OUT_OF_MEMORY, "qkern_context_create: could not start %d threads", opts->threads);
        }
    }
    *out = ctx;
    return QKERN_OK;
}

void qkern_context_destroy(qkern_context *ctx) {
    if (!ctx) return;
    qk_pool_destroy(ctx->pool);
    for (int i = 0; i < ctx->n_slots; i++)
        if (ctx->slots[i].state && ctx->slots[i].b->close) ctx->slots[i].b->close(ctx->slots[i].state);
    free(ctx);
}

const char *qkern_context_backend(const qkern_context *ctx) {
    return ctx ? ctx->slots[ctx->preferred].b->name : "none";
}

int qkern_context_threads(const qkern_context *ctx) { return ctx ? ctx->threads : 0; }

const qk_backend_slot *qk_select(const qkern_context *ctx, qk_op op, const qkern_quant_desc *desc,
                                 qkern_act_mode act) {
    const qk_backend_slot *p = &ctx->slots[ctx->preferred];
    if (p->b->kernel_name && p->b->kernel_name(p->state, op, desc, act)) return p;
    return &ctx->slots[ctx->scalar];
}

void qk_parallel_for(const qkern_context *ctx, qkern_task_fn fn, void *arg, int64_t n) {
    if (n <= 0) return;
    if (ctx->parallel_for && n > 1) {
        ctx->parallel_for(ctx->parallel_for_user, fn, arg, n);
    } else if (ctx->pool) {
        qk_pool_run(ctx->pool, fn, arg, n);
    } else {
        for (int64_t i = 0; i < n; i++) fn(arg, i);
    }
}

/* --- describe ------------------------------------------------------------------ */

typedef struct qk_sb { char *buf; size_t size, len; } qk_sb;

static void qk_sb_printf(qk_sb *sb, const char *fmt, ...) QK_PRINTF(2, 3);
static void qk_sb_printf(qk_sb *sb, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
    if (sb->len + 1 < sb->size) {
        size_t room = sb->size - 1 - sb->len;
        memcpy(sb->buf + sb->len, tmp, len < room ? len : room);
        sb->buf[sb->len + (len < room ? len : room)] = '\0';
    }
    sb->len += len;
}

static const qkern_format qk_describe_formats[] = {
    QKERN_I8, QKERN_I8_ASYM, QKERN_I4, QKERN_Q8_0, QKERN_Q4_0, QKERN_Q4_1, QKERN_Q8_1, QKERN_NF4,
    QKERN_FP8_E4M3, QKERN_FP8_E5M2,
};

static const char *qk_act_name(qkern_act_mode a) {
    switch (a) {
    case QKERN_ACT_FLOAT: return "f32";
    case QKERN_ACT_I8_DYNAMIC: return "i8";
    case QKERN_ACT_Q8_0: return "q8_0";
    case QKERN_ACT_Q8_1: return "q8_1";
    case QKERN_ACT_FP8_E4M3: return "fp8_e4m3";
    case QKERN_ACT_FP8_E5M2: return "fp8_e5m2";
    case QKERN_ACT_LLM_INT8: return "llm_int8";
    }
    return "?";
}

static void qk_describe_op(const qkern_context *ctx, qk_sb *sb, qk_op op, const qkern_quant_desc *d,
                           qkern_act_mode act) {
    const qk_backend_slot *s = qk_select(ctx, op, d, act);
    const char *k = s->b->kernel_name ? s->b->kernel_name(s->state, op, d, act) : NULL;
    const qk_backend_slot *p = &ctx->slots[ctx->preferred];
    qk_sb_printf(sb, " -> %-7s %s%s\n", s->b->name, k ? k : "(none: unsupported)",
                 s != p ? "  [fallback: preferred backend lacks it]" : "");
}

qkern_status qkern_context_describe(const qkern_context *ctx, char *buf, size_t size, size_t *needed) {
    qk_error_clear();
    if (!ctx) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_context_describe: ctx is NULL");
    if (!buf && size) return qk_error(QKERN_INVALID_ARGUMENT, "qkern_context_describe: buf is NULL but buf_size=%zu", size);
    qk_sb sb = {buf, size, 0};
    if (buf && size) buf[0] = '\0';
    char feat[512];
    qk_sb_printf(&sb, "qkern %s\n", qkern_version());
    qk_cpu_features_string(qk_cpu_features_raw(), feat, sizeof feat);
    qk_sb_printf(&sb, "cpu features: %s\n", feat[0] ? feat : "(none)");
    if (ctx->cpu != qk_cpu_features_raw()) {
        qk_cpu_features_string(qk_cpu_features_raw() & ~ctx->cpu, feat, sizeof feat);
        qk_sb_printf(&sb, "masked by QKERN_DISABLE: %s\n", feat);
    }
    if (ctx->disable_unknown[0])
        qk_sb_printf(&sb, "warning: QKERN_DISABLE names an unknown feature \"%s\"\n", ctx->disable_unknown);
    qk_sb_printf(&sb, "threads: %d (%s)\n", ctx->threads,
                 ctx->parallel_for ? "engine parallel-for" : ctx->pool ? "own pool" : "caller's thread");
    qk_sb_printf(&sb, "backends:\n");
    for (int i = 0; i < ctx->n_slots; i++) {
        const qk_backend_slot *s = &ctx->slots[i];
        /* an available backend's why is an optional note (the tunables it chose) */
        const int note = s->available && s->why[0];
        qk_sb_printf(&sb, "  %-7s %s%s%s%s\n", s->b->name,
                     s->available ? (note ? "available (" : "available") : "unavailable: ", s->why, note ? ")" : "",
                     i == ctx->preferred ? "  [selected]" : "");
    }
    for (int op = 0; op < QK_OP_COUNT; op++) {
        static const char *const op_names[] = {"quantize", "dequantize", "matmul"};
        qk_sb_printf(&sb, "%s:\n", op_names[op]);
        for (size_t f = 0; f < sizeof qk_describe_formats / sizeof qk_describe_formats[0]; f++) {
            qkern_quant_desc d = {qk_describe_formats[f], QKERN_GROUP_DEFAULT, 0};
            qkern_format_info info;
            qkern_format_get_info(d.format, &info);
            if (op != QK_OP_MATMUL) {
                qk_sb_printf(&sb, "  %-20s", info.name);
                qk_describe_op(ctx, &sb, (qk_op)op, &d, QKERN_ACT_FLOAT);
                continue;
            }
            for (int a = QKERN_ACT_FLOAT; a <= QKERN_ACT_LLM_INT8; a++) {
                const qk_backend_slot *sc = &ctx->slots[ctx->scalar];
                if (!sc->b->kernel_name || !sc->b->kernel_name(sc->state, QK_OP_MATMUL, &d, (qkern_act_mode)a))
                    continue; /* not a mode of this format */
                char label[40];
                snprintf(label, sizeof label, "%s x %s", info.name, qk_act_name((qkern_act_mode)a));
                qk_sb_printf(&sb, "  %-20s", label);
                qk_describe_op(ctx, &sb, QK_OP_MATMUL, &d, (qkern_act_mode)a);
            }
        }
    }
    if (needed) *needed = sb.len + 1;
    return QKERN_OK;
}
