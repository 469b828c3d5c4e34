#!/usr/bin/env bash
# qkern: set-up, build (warnings are errors), every test.
#   1. host build + ctest (every backend this machine has, masked fallbacks, qemu-x86_64
#      without AVX-512, valgrind, the OpenCL device and the no-platform case)
#   2. the installed package: a separate consumer project (find_package + pkg-config)
#      builds and runs the README example
#   3. ASan + UBSan build + ctest; TSan build + the suites that run the thread pool
#   4. AArch64 cross build + ctest under qemu (-cpu max and a CPU without dotprod)
# Ends with every stage's ctest summary; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
export CTEST_OUTPUT_ON_FAILURE=1

# shellcheck source=ci/setup.sh
source ci/setup.sh
qk_setup_host || { echo "ci/test.sh: set-up failed"; exit 1; }

declare -a SUMMARY=()
FAILED=0
stage() { echo; echo "=== $* ==="; }
record() { # name, status, ctest log
  local line=""
  [ -n "${3:-}" ] && [ -f "$3" ] && line=$(grep -E "tests passed|tests failed out of" "$3" | tail -n 1)
  SUMMARY+=("$(printf '%-10s %-4s %s' "$1" "$2" "$line")")
  [ "$2" = "ok" ] || FAILED=1
}

run_ctest() { # build-dir log [ctest args…]
  local dir=$1 log=$2; shift 2
  (cd "$dir" && ctest -j"$JOBS" --timeout 900 "$@") 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

# 1. host
stage "host: configure + build (-Werror)"
if cmake -S . -B build-ci -G Ninja -DCMAKE_BUILD_TYPE=Release -DQKERN_WERROR=ON >/dev/null &&
   cmake --build build-ci -j"$JOBS"; then
  stage "host: ctest"
  if run_ctest build-ci build-ci/ctest.log; then record host ok build-ci/ctest.log
  else record host FAIL build-ci/ctest.log; fi
else
  record host FAIL
fi

# 2. installed package + consumer project
stage "install + consumer project (find_package and pkg-config)"
rm -rf build-ci/prefix build-ci/consumer build-ci/consumer-pc
if cmake --install build-ci --prefix "$ROOT/build-ci/prefix" >/dev/null &&
   cmake -S tests/consumer -B build-ci/consumer -G Ninja -DCMAKE_PREFIX_PATH="$ROOT/build-ci/prefix" >/dev/null &&
   cmake --build build-ci/consumer && build-ci/consumer/quantize_weights && build-ci/consumer/quantize_weights_static >/dev/null &&
   PKG_CONFIG_PATH="$(dirname "$(find "$ROOT/build-ci/prefix" -name qkern.pc | head -n 1)")" \
     sh -c 'cc -std=c11 -o build-ci/consumer/quantize_weights_pc examples/quantize_weights.c $(pkg-config --cflags --libs qkern) -lm -Wl,-rpath,$(pkg-config --variable=libdir qkern)' &&
   build-ci/consumer/quantize_weights_pc >/dev/null; then
  echo "consumer: find_package(qkern) and pkg-config builds both ran the README example"
  record consumer ok
else
  record consumer FAIL
fi

# 3. sanitizers (native only: never under qemu, TOOLCHAIN.md §6)
stage "asan+ubsan: configure + build + ctest"
if cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DQKERN_SANITIZE=ON -DQKERN_BENCH=OFF \
     -DQKERN_WERROR=ON >/dev/null && cmake --build build-asan -j"$JOBS" >/dev/null; then
  if run_ctest build-asan build-asan/ctest.log -E 'valgrind|qemu'; then record asan ok build-asan/ctest.log
  else record asan FAIL build-asan/ctest.log; fi
else
  record asan FAIL
fi

# 3b. ThreadSanitizer over the suites that run the thread pool (spin-then-sleep hand-off)
stage "tsan: configure + build + the threaded suites"
if cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKERN_BENCH=OFF -DQKERN_OPENCL=OFF \
     -DQKERN_WERROR=ON -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
     -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null && cmake --build build-tsan -j"$JOBS" >/dev/null; then
  if TSAN_OPTIONS="halt_on_error=1 exitcode=66" run_ctest build-tsan build-tsan/ctest.log \
       -R '^(test_context|test_threadpool|test_matmul|test_quant_int|test_x86|conformance)$'; then
    record tsan ok build-tsan/ctest.log
  else record tsan FAIL build-tsan/ctest.log; fi
else
  record tsan FAIL
fi

# 4. AArch64 under qemu
if [ -x ci/arm64.sh ]; then
  stage "arm64: cross build + ctest under qemu-aarch64"
  if ci/arm64.sh 2>&1 | tee build-ci/arm64.log; then record arm64 ok build-ci/arm64.log
  else record arm64 FAIL build-ci/arm64.log; fi
fi

stage "summary"
for s in "${SUMMARY[@]}"; do echo "$s"; done
if [ "$FAILED" -ne 0 ]; then echo "ci/test.sh: FAILED"; exit 1; fi
echo "ci/test.sh: all stages passed"
# The host ctest summary closes the run, as ctest printed it.
grep -E "tests passed|tests failed out of|Total Test time" build-ci/ctest.log | tail -n 2
