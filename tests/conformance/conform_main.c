/* qkern-conform: runs the conformance table on every backend of this build against the
 * scalar reference and prints a backend × kernel matrix. Exit status: 0 all conform,
 * 1 a FAIL (or a required backend skipped), 2 bad usage. docs/conformance.md. */
#define _POSIX_C_SOURCE 200809L /* unsetenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance/conform.h"

static const char *const qk_all_backends[] = {"scalar", "x86", "neon", "opencl"};
#define QK_NB 4

static void qk_usage(FILE *f) {
    fprintf(f,
            "usage: qkern-conform [--backend NAME[,NAME…]] [--quick] [--seed N] [--list] [--verbose]\n"
            "                     [--require NAME[,NAME…]] [--require-cpu] [--expect-skip NAME[,NAME…]]\n"
            "  Runs every row of the conformance table (op × format × activation mode over tail\n"
            "  shapes and data patterns) on each backend (scalar, x86, neon, opencl) against the\n"
            "  scalar reference, and scalar against a float64 matmul of the dequantised operands.\n"
            "  --backend      backends to test (default: all four; unavailable ones print \"skipped\")\n"
            "  --quick        fewer shapes (every tail still appears): the CI setting\n"
            "  --seed N       data seed (default: from the clock, printed so a run can be repeated)\n"
            "  --list         print the table and exit\n"
            "  --require      fail if a named backend is skipped\n"
            "  --require-cpu  fail if a CPU backend built into this library is skipped although\n"
            "                 this CPU (after QKERN_DISABLE) has what it needs\n"
            "  --expect-skip  fail if a named backend is NOT skipped (fallback tests)\n"
            "  QKERN_BACKEND is ignored (each column forces its own backend); QKERN_DISABLE applies.\n");
}

static int qk_in_list(const char *list, const char *name) {
    if (!list) return 0;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Whether this CPU (after QKERN_DISABLE) has what a CPU backend needs. */
static int qk_cpu_supports(const char *b) {
    uint64_t f = qkern_cpu_features();
    if (strcmp(b, "x86") == 0) {
        uint64_t need = QKERN_CPU_AVX512F | QKERN_CPU_AVX512BW | QKERN_CPU_AVX512VL | QKERN_CPU_AVX512VNNI;
        return (f & need) == need;
    }
    if (strcmp(b, "neon") == 0) return (f & QKERN_CPU_NEON) != 0;
    return 0;
}

static const char *qk_verdict_name(qk_cf_verdict v) {
    static const char *const n[] = {"PASS", "FAIL", "fallback", "skip"};
    return n[v];
}

int main(int argc, char **argv) {
    const char *backends = NULL, *require = NULL, *expect_skip = NULL;
    int list = 0, require_cpu = 0;
    qk_cf_opts o = {0, 0, (uint64_t)time(NULL)};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quick") == 0) o.quick = 1;
        else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) o.verbose = 1;
        else if (strcmp(a, "--list") == 0) list = 1;
        else if (strcmp(a, "--require-cpu") == 0) require_cpu = 1;
        else if (strcmp(a, "--expect-skip") == 0 && i + 1 < argc) expect_skip = argv[++i];
        else if ((strcmp(a, "--backend") == 0 || strcmp(a, "--require") == 0 || strcmp(a, "--seed") == 0) && i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 'b') backends = v;
            else if (a[2] == 'r') require = v;
            else {
                char *end;
                o.seed = strtoull(v, &end, 0);
                if (*end) { fprintf(stderr, "qkern-conform: --seed %s is not a number\n", v); return 2; }
            }
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            qk_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "qkern-conform: unknown argument \"%s\"\n", a);
            qk_usage(stderr);
            return 2;
        }
    }
    if (backends) {
        for (const char *p = backends; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int ok = 0;
            for (int b = 0; b < QK_NB; b++) ok |= strlen(qk_all_backends[b]) == len && strncmp(p, qk_all_backends[b], len) == 0;
            if (!ok) { fprintf(stderr, "qkern-conform: --backend %.*s: not scalar, x86, neon or opencl\n", (int)len, p); return 2; }
            if (!e) break;
            p = e + 1;
        }
    }

    char label[96];
    if (list) {
        int64_t total = 0;
        printf("%-4s %-46s %s\n", "row", "op / format / mode", "cases (full, quick)");
        for (int i = 0; i < qk_cf_table_len; i++) {
            qk_cf_row_label(&qk_cf_table[i], label, sizeof label);
            printf("%-4d %-46s %lld, %lld\n", i, label, (long long)qk_cf_row_cases(&qk_cf_table[i], 0),
                   (long long)qk_cf_row_cases(&qk_cf_table[i], 1));
            total += qk_cf_row_cases(&qk_cf_table[i], o.quick);
        }
        printf("%d rows, %lld cases per backend%s\n", qk_cf_table_len, (long long)total, o.quick ? " (--quick)" : "");
        return 0;
    }

    /* Each column forces its backend by name; the environment must not redirect it. */
    const char *env = getenv("QKERN_BACKEND");
    if (env && *env) printf("note: QKERN_BACKEND=%s ignored (each column selects its own backend)\n", env);
    unsetenv("QKERN_BACKEND");

    qkern_context_options co;
    qkern_context_options_init(&co);
    co.backend = "scalar";
    co.threads = 1;
    qkern_context *ref = NULL;
    if (qkern_context_create(&co, &ref) != QKERN_OK) {
        fprintf(stderr, "qkern-conform: scalar reference context: %s\n", qkern_last_error());
        return 1;
    }
    printf("qkern-conform %s, seed %llu%s (repeat with --seed %llu)\n", qkern_version(), (unsigned long long)o.seed,
           o.quick ? ", quick" : "", (unsigned long long)o.seed);
    printf("bounds: quantised bytes and dequantised floats identical to scalar; matmul outputs within\n"
           "        |y - ref| <= 1e-5 * sum_k |x_k * w_k| + 1e-6 of the float64 reference and of scalar\n");

    qkern_context *ctx[QK_NB] = {0};
    const char *col[QK_NB];
    int ncol = 0, status = 0;
    for (int b = 0; b < QK_NB; b++) {
        const char *name = qk_all_backends[b];
        if (backends && !qk_in_list(backends, name)) continue;
        int c = ncol++;
        col[c] = name;
        co.backend = name;
        co.threads = 0;
        qkern_status s = qkern_context_create(&co, &ctx[c]);
        if (s != QKERN_OK) {
            const char *why = s == QKERN_INVALID_ARGUMENT ? "not built into this library" : qkern_last_error();
            printf("%s: skipped: %s\n", name, why);
            int required = qk_in_list(require, name) ||
                           (require_cpu && s != QKERN_INVALID_ARGUMENT && qk_cpu_supports(name));
            if (required) {
                printf("%s: FAIL: required (%s) but skipped\n", name,
                       qk_in_list(require, name) ? "--require" : "--require-cpu: this CPU supports it");
                status = 1;
            }
            ctx[c] = NULL;
        } else {
            printf("%s: available, %d threads\n", name, qkern_context_threads(ctx[c]));
            if (qk_in_list(expect_skip, name)) {
                printf("%s: FAIL: --expect-skip, but it is available\n", name);
                status = 1;
            }
        }
    }
    /* A required backend not even asked for is a usage slip worth failing on. */
    for (int b = 0; b < QK_NB; b++)
        if (qk_in_list(require, qk_all_backends[b]) && backends && !qk_in_list(backends, qk_all_backends[b])) {
            printf("%s: FAIL: required but not in --backend\n", qk_all_backends[b]);
            status = 1;
        }

    printf("\n%-46s", "op / format / mode");
    for (int c = 0; c < ncol; c++) printf(" %-9s", col[c]);
    printf("\n");
    int64_t fails = 0, cases = 0;
    char failures[64][400];
    int nfail = 0;
    for (int i = 0; i < qk_cf_table_len; i++) {
        const qk_cf_row *r = &qk_cf_table[i];
        qk_cf_row_label(r, label, sizeof label);
        printf("%-46s", label);
        fflush(stdout);
        for (int c = 0; c < ncol; c++) {
            qk_cf_result res;
            if (!ctx[c]) {
                printf(" %-9s", "skip");
                continue;
            }
            qk_cf_run_row(r, ctx[c], col[c], ref, &o, &res);
            cases += res.cases;
            printf(" %-9s", qk_verdict_name(res.v));
            fflush(stdout);
            if (res.v == QK_CF_FAIL) {
                fails++;
                status = 1;
                if (nfail < 64)
                    snprintf(failures[nfail++], sizeof failures[0], "%s on %s: %lld of %lld cases: %s", label, col[c],
                             (long long)res.failed, (long long)res.cases, res.first_failure);
            } else if (o.verbose) {
                printf("(%lld/%lld native)", (long long)res.native, (long long)res.cases);
            }
        }
        printf("\n");
    }
    printf("\n%lld cases run, %lld cells FAIL\n", (long long)cases, (long long)fails);
    for (int i = 0; i < nfail; i++) printf("FAIL %s\n", failures[i]);
    printf("fallback = the backend lacks the kernel and the front end ran scalar (checked all the same)\n");
    for (int c = 0; c < ncol; c++) qkern_context_destroy(ctx[c]);
    qkern_context_destroy(ref);
    return status;
}
