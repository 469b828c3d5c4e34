#!/usr/bin/env bash
# Same-run A/B of two revisions: builds qkern-bench at REV_A and REV_B (each exported with
# git archive into a scratch directory, Release), then runs the benchmark rows matching FILTER alternately,
# A B A B …, ROUNDS times, and prints each row's GB/s and GOPS for both (min–max over the
# rounds) and the ratio of the medians. Absolute figures on a shared VM drift by several
# per cent within minutes; alternating runs of both binaries in one go is how every
# "before → after" in docs/performance*.md was measured.
#
#   bench/ab.sh REV_A REV_B FILTER [ROUNDS=4] [extra qkern-bench flags…]
#   bench/ab.sh 449e731 HEAD 'matmul/x86/w=i8/a=llm_int8/M:(1|128)/N:4096/K:4096/threads:1'
#
# QK_AB_DIR keeps the exported trees and builds between calls (default: a fresh temp directory).
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
rev_a=$1 rev_b=$2 filter=$3
rounds=${4:-4}
shift $(($# < 4 ? $# : 4))
root=$(git rev-parse --show-toplevel)
dir=${QK_AB_DIR:-$(mktemp -d)}
mkdir -p "$dir"

build() { # rev → path of its qkern-bench
    local rev=$1 sha wt
    sha=$(git -C "$root" rev-parse --short "$rev")
    wt="$dir/$sha"
    if [ ! -d "$wt" ]; then mkdir -p "$wt" && git -C "$root" archive "$sha" | tar -x -C "$wt"; fi
    cmake -S "$wt" -B "$wt/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQKERN_TESTS=OFF >/dev/null
    cmake --build "$wt/build" --target qkern-bench >/dev/null
    echo "$wt/build/bench/qkern-bench"
}
echo "building $rev_a and $rev_b in $dir …" >&2
bin_a=$(build "$rev_a")
bin_b=$(build "$rev_b")

for ((r = 1; r <= rounds; r++)); do
    for side in a b; do
        bin=$bin_a
        [ "$side" = b ] && bin=$bin_b
        echo "round $r/$rounds: $side" >&2
        "$bin" --qk_peers=0 --benchmark_filter="$filter" --benchmark_min_time=0.3 \
            --benchmark_out="$dir/$side.$r.json" --benchmark_out_format=json "$@" >/dev/null 2>>"$dir/bench.log"
    done
done

python3 - "$dir" "$rounds" "$(git -C "$root" rev-parse --short "$rev_a")" "$(git -C "$root" rev-parse --short "$rev_b")" <<'EOF'
import json, statistics, sys
d, rounds, ra, rb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = {}
for side in "ab":
    for r in range(1, rounds + 1):
        for b in json.load(open(f"{d}/{side}.{r}.json"))["benchmarks"]:
            if b.get("run_type") == "aggregate" or b["name"].startswith("roofline/"):
                continue
            key = b["name"].replace("/real_time", "")
            for unit in ("GB/s", "GOPS"):
                if unit in b:
                    rows.setdefault((key, unit), {"a": [], "b": []})[side].append(b[unit])
def span(v):
    return f"{min(v):.3g}–{max(v):.3g}" if len(v) > 1 else f"{v[0]:.3g}"
print(f"| row | unit | {ra} | {rb} | median {rb} / {ra} |")
print("|---|---|---:|---:|---:|")
for (name, unit), v in sorted(rows.items()):
    if v["a"] and v["b"]:
        ratio = statistics.median(v["b"]) / statistics.median(v["a"])
        print(f"| {name} | {unit} | {span(v['a'])} | {span(v['b'])} | {ratio:.3f} |")
EOF
