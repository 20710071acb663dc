#!/usr/bin/env bash
# train and predict refuse bad flags, missing data and missing or corrupt checkpoints with a
# message on stderr and exit code 2 — never a crash, a hang or a silent success.
# usage: bad_input.sh TRAIN PREDICT [MPIEXEC]   (with MPIEXEC, also a few cases on 2 ranks)
set -uo pipefail

train=$1
predict=$2
mpiexec=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

# expect_bad_input DESCRIPTION COMMAND...: exit code 2 within 30 s and "error" on stderr.
expect_bad_input() {
  local what=$1
  shift
  timeout 30 "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  if [[ $rc -eq 2 ]] && grep -q "error" "$work/err"; then
    echo "ok    $what: $(grep -m1 error "$work/err" | cut -c1-150)"
  else
    echo "FAIL  $what: exit code $rc (expected 2); stderr:"
    sed 's/^/      /' "$work/err" | head -5
    failures=$((failures + 1))
  fi
}

# A valid checkpoint, then a truncated copy and one of random bytes.
if ! "$train" --data synthetic:300 --epochs 1 --checkpoint "$work/good.safetensors" \
    >"$work/out" 2>&1; then
  echo "FAIL  could not train the checkpoint the other cases start from:"
  cat "$work/out"
  exit 1
fi
head -c 2000 "$work/good.safetensors" >"$work/truncated.safetensors"
head -c 4096 /dev/urandom >"$work/random.safetensors"
printf 'epochs = 1\nno-such-option = 3\n' >"$work/unknown.ini"

data=(--data synthetic:300)
expect_bad_input "train unknown option" "$train" --bogus
expect_bad_input "train stray argument" "$train" "${data[@]}" stray
expect_bad_input "train --epochs -1" "$train" "${data[@]}" --epochs -1
expect_bad_input "train --epochs abc" "$train" "${data[@]}" --epochs abc
expect_bad_input "train --batch-size 0" "$train" "${data[@]}" --batch-size 0
expect_bad_input "train --optimizer bogus" "$train" "${data[@]}" --optimizer bogus
expect_bad_input "train --input bogus" "$train" "${data[@]}" --input bogus
expect_bad_input "train --lr -1" "$train" "${data[@]}" --lr -1
expect_bad_input "train --augment rotate" "$train" "${data[@]}" --augment rotate
expect_bad_input "train --validate-every -1" "$train" "${data[@]}" --validate-every -1
expect_bad_input "train --validation-split 1" "$train" "${data[@]}" --validate-every 1 \
  --validation-split 1
expect_bad_input "train --validation-split without --validate-every" "$train" "${data[@]}" \
  --validation-split 0.1
expect_bad_input "train --best-checkpoint in a missing folder" "$train" "${data[@]}" \
  --validate-every 1 --best-checkpoint "$work/none/best.safetensors"
expect_bad_input "train --model missing.json" "$train" "${data[@]}" --model "$work/missing.json"
expect_bad_input "train --device cuda:99" "$train" "${data[@]}" --device cuda:99
expect_bad_input "train --device bogus" "$train" "${data[@]}" --device bogus
# On a machine where no GPU answers, asking for one is a clear error, not a CPU run.
if ! nvidia-smi -L >/dev/null 2>&1; then
  expect_bad_input "train --device cuda without a GPU" "$train" "${data[@]}" --device cuda
  if ! grep -q "no CUDA device answers\|no CUDA backend" "$work/err"; then
    echo "FAIL  train --device cuda: stderr does not say that no GPU answers"
    failures=$((failures + 1))
  fi
fi
expect_bad_input "train missing data folder" "$train" --data "$work/no-such-folder"
expect_bad_input "train missing Fashion-MNIST folder" "$train" --data "fashion-mnist:$work/none"
expect_bad_input "train folder without data files" "$train" --data "$work"
expect_bad_input "train bad data form" "$train" --data synthetic:0
expect_bad_input "train --checkpoint in a missing folder" "$train" "${data[@]}" \
  --checkpoint "$work/none/c.safetensors"
expect_bad_input "train --metrics in a missing folder" "$train" "${data[@]}" \
  --metrics "$work/none/m.jsonl"
expect_bad_input "train missing --config file" "$train" --config "$work/none.ini"
expect_bad_input "train unknown option in --config" "$train" --config "$work/unknown.ini"
expect_bad_input "train --resume missing" "$train" --resume "$work/missing.safetensors"
expect_bad_input "train --resume truncated" "$train" --resume "$work/truncated.safetensors"
expect_bad_input "train --resume random bytes" "$train" --resume "$work/random.safetensors"
expect_bad_input "train --resume other model" "$train" --resume "$work/good.safetensors" \
  --model cnn --epochs 2

good=(--checkpoint "$work/good.safetensors")
expect_bad_input "predict unknown option" "$predict" "${good[@]}" --bogus
expect_bad_input "predict without --checkpoint" "$predict"
expect_bad_input "predict --batch-size 0" "$predict" "${good[@]}" --batch-size 0
expect_bad_input "predict --input bogus" "$predict" "${good[@]}" --input bogus
if ! nvidia-smi -L >/dev/null 2>&1; then
  expect_bad_input "predict --device cuda without a GPU" "$predict" "${good[@]}" --device cuda
fi
expect_bad_input "predict missing data folder" "$predict" "${good[@]}" --data "$work/none"
expect_bad_input "predict missing checkpoint" "$predict" --checkpoint "$work/missing.safetensors"
expect_bad_input "predict truncated checkpoint" "$predict" --checkpoint "$work/truncated.safetensors"
expect_bad_input "predict random-bytes checkpoint" "$predict" --checkpoint "$work/random.safetensors"
expect_bad_input "predict output folder missing" "$predict" "${good[@]}" --output "$work/none/p.npy"

# --help lists every option with its default and succeeds.
if "$train" --help >"$work/help" 2>&1 && grep -q -- "--checkpoint-every" "$work/help" &&
    grep -q -- "--log-every arg (=50)" "$work/help" && "$predict" --help >/dev/null 2>&1; then
  echo "ok    --help"
else
  echo "FAIL  --help did not succeed or misses options"
  failures=$((failures + 1))
fi

if [[ -n "$mpiexec" ]]; then
  expect_bad_input "2 ranks: train --epochs -1" "$mpiexec" -n 2 "$train" --epochs -1
  # Only rank 0 reads the data (scatter input): rank 1 must not wait for it forever.
  expect_bad_input "2 ranks: train missing data folder" "$mpiexec" -n 2 "$train" \
    --data "$work/no-such-folder"
  expect_bad_input "2 ranks: predict random-bytes checkpoint" "$mpiexec" -n 2 "$predict" \
    --checkpoint "$work/random.safetensors"
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
