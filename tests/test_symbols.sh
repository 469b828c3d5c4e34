#!/bin/sh
# Every dynamic symbol libqkern.so defines must be qkern_*.
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^qkern_' || true)
count=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/' | grep -c ' qkern_' || true)
echo "exported qkern_* symbols: $count"
if [ -n "$bad" ]; then
  echo "FAIL: symbols outside the qkern_ namespace:"; echo "$bad"; exit 1
fi
[ "$count" -gt 10 ] || { echo "FAIL: only $count qkern_ symbols exported"; exit 1; }
echo "OK: only qkern_* exported"
