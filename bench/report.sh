#!/usr/bin/env bash
# bench/report.sh <build-dir> <out-dir> [--quick] [-- extra qkern-bench flags]
#
# Runs qkern-bench (roofline probes, quantize/dequantize, matmul, peers) and writes into
# <out-dir>: bench.json (Google Benchmark JSON), bench.txt (console output), table.md
# (ceilings, GB/s, GOPS, % of roofline, peer ratios) and roofline.png; prints table.md.
# --quick is the short set ci/report.sh runs (a few minutes on an idle machine): M ∈ {1, 128}
# at 4096×4096, small min_time. Without it: the full LLM sweep (tens of minutes).
set -euo pipefail

usage() { echo "usage: $0 <build-dir> <out-dir> [--quick] [-- qkern-bench flags]" >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$1 out=$2
shift 2
quick=0
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
  shift
done

here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bench/qkern-bench
if [ ! -x "$bin" ]; then
  echo "report.sh: $bin not found; build with Google Benchmark installed (libbenchmark-dev)" >&2
  exit 1
fi
mkdir -p "$out"
# PoCL's kernel cache per build tree (as the tests use), not in $HOME.
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$build/pocl-cache}

flags=(--benchmark_out="$out/bench.json" --benchmark_out_format=json --benchmark_counters_tabular=false)
if [ $quick = 1 ]; then
  flags+=(--qk_quick --benchmark_min_time=0.05)
else
  flags+=(--benchmark_min_time=0.3)
fi

echo "== qkern-bench ${flags[*]} ${extra[*]:-}"
start=$(date +%s)
# Console rows go to bench.txt; the ceilings and warnings (stderr) stay on the terminal.
"$bin" "${flags[@]}" "${extra[@]}" > "$out/bench.txt"
echo "== qkern-bench took $(( $(date +%s) - start )) s; console output in $out/bench.txt"

# A python3 that has matplotlib draws the plot (pyenv shims may shadow Debian's).
py=""
for cand in python3 /usr/bin/python3; do
  if command -v "$cand" > /dev/null 2>&1 && "$cand" -c 'import matplotlib' > /dev/null 2>&1; then py=$cand; break; fi
done
png_arg=(--png "$out/roofline.png")
if [ -z "$py" ]; then
  py=$(command -v python3 || command -v /usr/bin/python3 || true)
  png_arg=()
  echo "report.sh: no python3 with matplotlib (apt: python3-matplotlib): table only, no plot" >&2
fi
[ -n "$py" ] || { echo "report.sh: python3 not found; JSON is in $out/bench.json" >&2; exit 1; }
"$py" "$here/plot_roofline.py" "$out/bench.json" --md "$out/table.md" "${png_arg[@]}"
