#!/usr/bin/env bash
# qkern on AArch64 without an Arm machine: cross-build with Debian's gcc-aarch64-linux-gnu
# and run the whole CTest suite under qemu-aarch64 (user mode), twice:
#   QEMU_CPU=max         dotprod + i8mm: the SDOT / SMMLA kernels
#   QEMU_CPU=cortex-a57  Armv8.0, no dotprod: the plain-NEON (smull/sadalp) kernels
# (tests/CMakeLists.txt registers every Check suite under both CPUs, tests/qemu_arm64.cmake the
# conformance CLI.) Before the tests it
# prints which NEON kernel each op gets on each CPU, from qkern_context_describe.
#
#   ci/arm64.sh [--setup-only]      (run from anywhere; builds in <repo>/build-arm64)
# Set-up is idempotent: arm64 is added as a dpkg architecture and apt runs only if a
# package is missing (gcc-aarch64-linux-gnu and libc6-dev-arm64-cross, which --no-install-recommends
# does not pull in, qemu-user, check:arm64 and its libc6:arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD="$ROOT/build-arm64"
JOBS=$(nproc 2>/dev/null || echo 2)

qk_arm64_setup() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "arm64.sh: adding the arm64 dpkg architecture"
    $sudo dpkg --add-architecture arm64
  fi
  local want=(cmake ninja-build pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user check:arm64) missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "arm64.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # check:arm64 brings the multiarch loader; the toolchain file then runs qemu without -L
  # (with -L the cross sysroot's ld.so and the multiarch libc hang every guest fork()).
  [ -e /lib/ld-linux-aarch64.so.1 ] || echo "arm64.sh: note: no /lib/ld-linux-aarch64.so.1, qemu will use -L"
  echo "arm64.sh: set-up done ($(aarch64-linux-gnu-gcc -dumpfullversion), $(qemu-aarch64 --version | head -n1))"
}

qk_arm64_setup
[ "${1:-}" = "--setup-only" ] && exit 0

echo "=== arm64: configure + build (-Werror) ==="
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$ROOT/ci/toolchain-aarch64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DQKERN_BENCH=OFF -DQKERN_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS"

# The kernels each CPU model gets (the describe table printed by tests/test_neon).
for cpu in max cortex-a57; do
  echo "=== arm64: kernels under QEMU_CPU=$cpu ==="
  QEMU_CPU=$cpu CK_FORK=no qemu-aarch64 "$BUILD/tests/test_neon" |
    sed -n '/^cpu features/p;/^neon kernels/,/^[0-9]*%: Checks/p'
done

status=0
echo "=== arm64: ctest (every suite under QEMU_CPU=max and cortex-a57) ==="
(cd "$BUILD" && ctest -j"$JOBS" --timeout 900 --output-on-failure) 2>&1 | tee "$BUILD/ctest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# The conformance matrix (neon against scalar and the float64 reference) on both CPUs;
# ctest ran the same as conformance / conformance_cortex_a57, this shows the table.
if [ -x "$BUILD/tests/qkern-conform" ]; then
  for cpu in max cortex-a57; do
    echo "=== arm64: conformance matrix under QEMU_CPU=$cpu ==="
    QEMU_CPU=$cpu qemu-aarch64 "$BUILD/tests/qkern-conform" --quick --require-cpu || status=1
  done
fi
# The full run's summary last (ci/test.sh reads the last "tests passed" line).
echo "=== arm64: summary ==="
grep -E "tests passed|tests failed out of" "$BUILD/ctest.log" | tail -n 1 || true
exit $status
