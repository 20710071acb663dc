#!/usr/bin/env bash
# Guards the layering check itself: in a scratch tree of two parts (low, high: high depends on
# low), an include from low of a header of high must fail the check and be named, and the
# same tree without it must pass.
#   upward_include_is_caught.sh CHECK_LAYERS_PY
set -euo pipefail
check="$1"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT

mkdir -p "$tree/include/lockstep/low" "$tree/include/lockstep/high" "$tree/src/low" "$tree/src/high"
printf 'low:\nhigh: low\n' > "$tree/parts.txt"
printf '#pragma once\n' > "$tree/include/lockstep/low/low.h"
printf '#pragma once\n#include "lockstep/low/low.h"\n' > "$tree/include/lockstep/high/high.h"
printf '#include "lockstep/low/low.h"\n' > "$tree/src/low/low.cpp"
printf '#include "lockstep/high/high.h"\n#include "low/detail.h"\n' > "$tree/src/high/high.cpp"

timeout 30 python3 "$check" "$tree/parts.txt" "$tree" > "$tree/clean.log" || {
  cat "$tree/clean.log"; echo "FAIL: a tree without upward includes was refused"; exit 1; }

printf '#include "lockstep/low/low.h"\n#include "lockstep/high/high.h"\n' > "$tree/src/low/low.cpp"
if timeout 30 python3 "$check" "$tree/parts.txt" "$tree" > "$tree/upward.log"; then
  cat "$tree/upward.log"; echo "FAIL: an include of a higher part passed the check"; exit 1
fi
grep -q "src/low/low.cpp:2: part 'low' includes \"lockstep/high/high.h\" of part 'high'" \
  "$tree/upward.log" || { cat "$tree/upward.log"; echo "FAIL: the report does not name it"; exit 1; }

mkdir -p "$tree/src/stray"
printf '#include "lockstep/low/low.h"\n' > "$tree/src/low/low.cpp"
if timeout 30 python3 "$check" "$tree/parts.txt" "$tree" > "$tree/stray.log"; then
  cat "$tree/stray.log"; echo "FAIL: a folder of no part passed the check"; exit 1
fi
echo "the layering check refuses upward includes and stray folders, and passes a clean tree"
