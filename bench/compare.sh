#!/usr/bin/env bash
# compare.sh: Lockstep against PyTorch on this machine's CPUs, in one command. Builds the
# benchmarks when needed, then for mlp, cnn and resnet20 runs, pair after pair, each of
#   Lockstep 1 rank | PyTorch 1 process 1 thread | Lockstep 2 ranks (mpirun) |
#   PyTorch DDP 2 ranks | PyTorch 1 process 2 threads
# so that Lockstep and PyTorch alternate and drifting machine load falls on both; then
# bench_allreduce on 2 ranks; then bench/summarize.py prints the medians, the ratios next to
# their targets, the BLAS of each side and the machine, and writes OUT/compare.json (OUT:
# --out, else BUILD_DIR/bench-results; BUILD_DIR: --build-dir, else build-bench).
#
#   bench/compare.sh [--build-dir DIR] [--out DIR] [--pairs N] [--quick] [--no-build]
#                    [--data fashion-mnist|synthetic]
#
# Every rank and process gets one BLAS thread unless it is the 2-thread configuration.
# --quick: one pair, a tenth of the steps, allreduce up to 16 MiB (a smoke test, ~1 min).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build-bench"
out=""  # default: BUILD_DIR/bench-results (build folders are ignored by git)
pairs=3
quick=0
build=1
data=fashion-mnist
python=/usr/bin/python3
given_args="$*"

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit "$1"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-build) build=0; shift ;;
    --data) data="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown option '$1'" >&2; usage 2 ;;
  esac
done
[[ -n "$out" ]] || out="$build_dir/bench-results"
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --pairs expects a positive integer, found '$pairs'" >&2; exit 2; }
[[ "$data" == fashion-mnist || "$data" == synthetic ]] || {
  echo "compare.sh: --data must be fashion-mnist or synthetic, found '$data'" >&2; exit 2; }

# ---- what the comparison needs ----------------------------------------------------------------
if ! "$python" -c "import torch" >/dev/null 2>&1; then
  echo "compare.sh: $python has no torch, the peer cannot run: apt-get install python3-torch" >&2
  exit 2
fi
command -v mpirun >/dev/null || { echo "compare.sh: mpirun not found (apt-get install openmpi-bin)" >&2; exit 2; }

if [[ "$build" -eq 1 ]]; then
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$repo" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DLOCKSTEP_WITH_CUDA=OFF -DLOCKSTEP_BUILD_TESTS=OFF -DLOCKSTEP_BUILD_BENCHMARKS=ON
  fi
  cmake --build "$build_dir" --target bench_train_throughput bench_allreduce -j "$(nproc)"
fi
train_bin="$build_dir/bench/bench_train_throughput"
allreduce_bin="$build_dir/bench/bench_allreduce"
for bin in "$train_bin" "$allreduce_bin"; do
  [[ -x "$bin" ]] || { echo "compare.sh: $bin is missing (an MPI build is needed; drop --no-build?)" >&2; exit 2; }
done

# ---- steps --------------------------------------------------------------------------------------
# About 5 s per run on 2 idle cores, and 6 minutes for a full run of 3 pairs (up to 15 when
# other work shares the machine).
declare -A steps=([mlp]=1000 [cnn]=200 [resnet20]=20) warmup=([mlp]=50 [cnn]=10 [resnet20]=3)
allreduce_args=(--iterations 100 --warmup 10)
if [[ "$quick" -eq 1 ]]; then
  pairs=1
  steps=([mlp]=100 [cnn]=20 [resnet20]=3) warmup=([mlp]=10 [cnn]=3 [resnet20]=1)
  allreduce_args=(--iterations 10 --warmup 2 --max-bytes $((16 << 20)))
fi

runs="$out/runs"
rm -rf "$runs"
mkdir -p "$runs"
# Not bound to cores: PyTorch's processes are not either, and on a machine shared with other
# work a bound rank cannot leave a busy core (its peer then waits in every allreduce).
mpirun_flags=(-np 2 --bind-to none -x OPENBLAS_NUM_THREADS=1)
[[ "$(id -u)" -eq 0 ]] && mpirun_flags+=(--allow-run-as-root)
[[ "$(nproc)" -lt 2 ]] && mpirun_flags+=(--oversubscribe)

# run_config MODEL CONFIG PAIR: one run, its table in runs/<name>.log, its JSON beside it.
run_config() {
  local model="$1" config="$2" pair="$3"
  local name="${model}__${config}__${pair}"
  local json="$runs/$name.json" log="$runs/$name.log"
  local common=(--model "$model" --data "$data" --batch-size 256 --steps "${steps[$model]}"
                --warmup "${warmup[$model]}" --json "$json")
  local command=()
  case "$config" in
    lockstep-1) command=(env OPENBLAS_NUM_THREADS=1 "$train_bin" "${common[@]}") ;;
    lockstep-2) command=(mpirun "${mpirun_flags[@]}" "$train_bin" "${common[@]}") ;;
    pytorch-1x1) command=("$python" "$repo/bench/peer/pytorch_train.py" "${common[@]}" --ranks 1 --threads 1) ;;
    pytorch-1x2) command=("$python" "$repo/bench/peer/pytorch_train.py" "${common[@]}" --ranks 1 --threads 2) ;;
    pytorch-ddp-2) command=("$python" "$repo/bench/peer/pytorch_train.py" "${common[@]}" --ranks 2 --threads 1) ;;
  esac
  echo "${command[*]}" >"$log"
  local start=$SECONDS
  if ! "${command[@]}" >>"$log" 2>&1; then
    echo "compare.sh: $name failed; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  local rate
  rate=$("$python" -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['samples_per_s']:.0f}\")" "$json")
  printf '  %-4s %-14s pair %d: %8s samples/s  (%ds, load %s)\n' "$model" "$config" "$pair" \
    "$rate" $((SECONDS - start)) "$(cut -d' ' -f1 /proc/loadavg)"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
began=$SECONDS
echo "compare.sh: $pairs pair(s) per configuration, data $data, results in $out (load $load_start)"
for model in mlp cnn resnet20; do
  for pair in $(seq 1 "$pairs"); do
    for config in lockstep-1 pytorch-1x1 lockstep-2 pytorch-ddp-2 pytorch-1x2; do
      run_config "$model" "$config" "$pair"
    done
  done
done
echo "  allreduce on 2 ranks ..."
mpirun "${mpirun_flags[@]}" "$allreduce_bin" "${allreduce_args[@]}" --json "$runs/allreduce.json" \
  >"$runs/allreduce.log" 2>&1 || { cat "$runs/allreduce.log" >&2; exit 1; }
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi
"$python" - "$out/meta.json" <<EOF
import json, sys
json.dump({"command": "bench/compare.sh $given_args", "pairs": $pairs, "quick": bool($quick),
           "data": "$data", "steps": {"mlp": ${steps[mlp]}, "cnn": ${steps[cnn]}, "resnet20": ${steps[resnet20]}},
           "warmup": {"mlp": ${warmup[mlp]}, "cnn": ${warmup[cnn]}, "resnet20": ${warmup[resnet20]}},
           "mpirun": "mpirun ${mpirun_flags[*]}", "build_dir": "$build_dir",
           "commit": "$commit", "seconds": $((SECONDS - began)),
           "load_start": "$load_start", "load_end": "$load_end"}, open(sys.argv[1], "w"), indent=2)
EOF
echo
"$python" "$repo/bench/summarize.py" --runs "$runs" --meta "$out/meta.json" --json "$out/compare.json"
echo
echo "compare.sh: $((SECONDS - began)) s; summary in $out/compare.json, every run's output in $runs"
