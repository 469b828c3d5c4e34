#!/usr/bin/env bash
# qkern hardware report: set-up, build, then
#   1. the machine: CPU features, backends found (and why any is unavailable), kernel choice,
#      which AVX-512 operations issue beside the multiply pipe (qkern-pipe-mix)
#   2. conformance: every backend against the scalar reference (backend × kernel matrix)
#   3. tuning (when the autotuner is built)
#   4. benchmarks: quantize / dequantize / matmul throughput against the roofline this
#      machine measures (int8 dot-product peak, memory bandwidth) and peer libraries
#   5. the headline shapes (M = 1 … 512 int8 GEMM / GEMV, 1 and 2 threads, oneDNN, CLBlast)
# Writes everything under out/report/ (JSON, markdown table, roofline PNG).
#   ./ci/report.sh            the default short run (a few minutes)
#   ./ci/report.sh --full     every shape
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
MODE=--quick
[ "${1:-}" = "--full" ] && MODE=""
OUT=out/report
mkdir -p "$OUT"

# shellcheck source=ci/setup.sh
source ci/setup.sh
qk_setup_host || { echo "ci/report.sh: set-up failed"; exit 1; }

echo "=== build (Release) ==="
cmake -S . -B build-report -G Ninja -DCMAKE_BUILD_TYPE=Release -DQKERN_TESTS=ON >/dev/null || exit 1
cmake --build build-report -j"$JOBS" >/dev/null || { cmake --build build-report; exit 1; }
B=build-report
STATUS=0

echo
echo "=== 1. this machine ==="
lscpu 2>/dev/null | grep -E "Model name|^CPU\(s\)|L2 cache|L3 cache" || true
"$B/qkern-describe" | tee "$OUT/describe.txt"
if "$B/qkern-describe" --backend opencl >"$OUT/describe-opencl.txt" 2>&1; then
  echo "opencl: $(grep -E '^  opencl' "$OUT/describe-opencl.txt" | sed 's/^ *//')"
else
  echo "opencl: $(cat "$OUT/describe-opencl.txt")"
fi
if [ -x "$B/bench/qkern-pipe-mix" ]; then # what issues beside the multiply pipe: the compute floors' premise
  echo
  "$B/bench/qkern-pipe-mix" | tee "$OUT/pipes.md"
fi

echo
echo "=== 2. conformance ==="
CONFORM=$(find "$B" -maxdepth 2 -name qkern-conform -type f -perm -u+x | head -n 1)
if [ -n "$CONFORM" ]; then
  POCL_CACHE_DIR="$PWD/$B/pocl-cache" "$CONFORM" $MODE | tee "$OUT/conformance.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || STATUS=1
else
  echo "qkern-conform is not built yet"
fi

echo
echo "=== 3. tuning ==="
if [ -x "$B/qkern-tune" ]; then
  "$B/qkern-tune" $MODE --out "$OUT/tuning.txt" | tee "$OUT/tune.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || STATUS=1
else
  echo "qkern-tune: not built yet (the autotuner is a later issue); built-in defaults are in use"
fi

echo
echo "=== 4. benchmarks against the roofline ==="
if [ -x bench/report.sh ]; then
  bench/report.sh "$B" "$OUT" $MODE || STATUS=1
  echo
  echo "=== 5. the headline shapes: int8 GEMM / GEMV at M = 1, 8, 128, 512 (N = K = 4096), 1 and 2 threads,"
  echo "===    beside oneDNN (VNNI) and, for OpenCL, CLBlast on the same device; dequantize vs copy ==="
  HEADLINE='^(roofline/.*|matmul/x86/w=(i8|i4|q4_0)/a=(i8|q8_0)/M:(1|8|128|512)/N:4096/K:4096/.*'
  HEADLINE+='|matmul/x86-vnni/w=(i8|i4|q4_0)/a=(i8|q8_0)/M:(128|512)/N:4096/K:4096/.*'
  HEADLINE+='|peer/onednn/w=s8/a=u8/M:(1|8|128|512)/N:4096/K:4096/.*|dequantize/x86/(i8|i4|q4_0)/.*'
  HEADLINE+='|matmul/opencl/w=(i8|q4_0)/a=(i8|q8_0)/M:(1|512)/N:4096/K:4096/.*'
  HEADLINE+='|peer/clblast/w=f32/a=f32/M:(1|512)/N:4096/K:4096/.*)$'
  bench/report.sh "$B" "$OUT/headline" -- --benchmark_filter="$HEADLINE" --benchmark_min_time=0.2 || STATUS=1
else
  echo "bench/report.sh is not there yet"
fi
echo
echo "report written to $OUT/"
exit $STATUS
