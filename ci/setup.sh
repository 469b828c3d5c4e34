#!/usr/bin/env bash
# Installs what qkern's build, tests and report need from Debian, only what is missing
# (idempotent; safe to run as root on a fresh Debian 12). Sourced or run by ci/test.sh
# and ci/report.sh.
set -euo pipefail

QK_PACKAGES=(gcc g++ cmake ninja-build pkg-config make
  check libbenchmark-dev valgrind
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  qemu-user gcc-aarch64-linux-gnu
  libdnnl-dev libopenblas-dev libclblast-dev
  python3 python3-matplotlib)

qk_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

qk_apt_install() {
  local missing
  missing=$(qk_missing "$@")
  if [ -z "$missing" ]; then return 0; fi
  echo "setup: installing: $missing"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

qk_setup_host() { qk_apt_install "${QK_PACKAGES[@]}"; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  qk_setup_host
  echo "setup: host packages present"
fi
