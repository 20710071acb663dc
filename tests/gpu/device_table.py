#!/usr/bin/env python3
"""Turns the JSON files of a GPU device check (tests/gpu/device_check.sh) into one markdown
table: Dense GEMM against cuBLAS, training throughput against PyTorch on the same GPU, and
one-rank NCCL allreduce against raw NCCL. A file that is missing or unreadable becomes a row
saying so, so the table always shows what the run measured.

  device_table.py --json-dir DIR [--out-json results.json] [--out-md results.md]

Reads DIR/gemm.json, DIR/nccl.json and DIR/train_<model>_<variant>.json; prints the table on
stdout, and writes it (--out-md) and every input file gathered into one (--out-json).
"""

import argparse
import json
import os
import sys

MODELS = ("mlp", "cnn")
# Lockstep's training variants: file suffix -> how the table names it.
LOCKSTEP_VARIANTS = (
    ("lockstep", "Lockstep, micro-batches of 16 (default)"),
    ("lockstep_mb0", "Lockstep, whole batch (--micro-batch 0)"),
)
HEADER = ("Check", "Case", "Lockstep", "Reference", "Lockstep / reference", "Notes")


def load_all(json_dir):
    """Every *.json of the folder by stem; unreadable files map to {"error": reason}."""
    files = {}
    if not os.path.isdir(json_dir):
        return files
    for name in sorted(os.listdir(json_dir)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(json_dir, name)
        try:
            with open(path) as f:
                files[name[:-len(".json")]] = json.load(f)
        except (OSError, ValueError) as e:
            files[name[:-len(".json")]] = {"error": f"{path}: {e}"}
    return files


def missing(files, stem):
    """Why the file `stem` cannot be used, or None when it can."""
    if stem not in files:
        return f"no {stem}.json (the step failed, was skipped, or had no GPU)"
    if "error" in files[stem]:
        return f"unreadable {stem}.json: {files[stem]['error']}"
    return None


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def device_rows(files):
    for stem in ("gemm", "nccl"):
        gpu = files.get(stem, {}).get("gpu")
        if gpu:
            notes = (f"compute capability {gpu.get('compute_capability')}, "
                     f"{gpu.get('multiprocessors')} SMs, {gpu.get('memory_gib', 0):.0f} GiB, "
                     f"CUDA driver {gpu.get('cuda_driver')} / runtime {gpu.get('cuda_runtime')}")
            return [("GPU", gpu.get("name", "?"), "", "", "", notes)]
    return [("GPU", "unknown", "", "", "", "no benchmark recorded the GPU")]


def gemm_notes(r):
    notes = []
    pedantic = r.get("cublas_pedantic")
    if pedantic:
        # Lockstep's FP32 GEMM asks cuBLAS for CUBLAS_COMPUTE_32F_PEDANTIC.
        notes.append(f"cuBLAS pedantic FP32 (Lockstep's mode) {pedantic['tflops']:.1f} TFLOP/s")
    notes.append(f"max abs diff {r['max_abs_difference']:.1e} (outputs up to "
                 f"{r['max_abs_output']:.1f})")
    notes.append("Dense time includes output allocation and bias")
    return "; ".join(notes)


def gemm_rows(files):
    why = missing(files, "gemm")
    if why:
        return [("Dense forward GEMM", "all shapes", "missing", "", "", why)]
    rows = []
    for r in files["gemm"].get("results", []):
        case = (f"{r['batch']}x{r['in_features']} -> {r['out_features']} "
                f"({r['precision'].upper()})")
        rows.append((
            "Dense forward vs cuBLAS", case,
            f"{r['lockstep_dense_tflops']:.1f} TFLOP/s ({r['lockstep_dense_ms_median']:.3f} ms)",
            f"cuBLAS {r['cublas_tflops']:.1f} TFLOP/s ({r['cublas_ms_median']:.3f} ms)",
            ratio(r["lockstep_dense_tflops"], r["cublas_tflops"]),
            gemm_notes(r)))
    return rows


def samples_per_s(result):
    """Samples per second from a training result, whatever its producer named the field."""
    for key in ("samples_per_s", "samples_per_second", "throughput_samples_per_s"):
        if isinstance(result.get(key), (int, float)):
            return float(result[key])
    return None


def step_ms(result):
    value = result.get("ms_per_step_median")
    return f"{value:.2f} ms" if isinstance(value, (int, float)) else "unknown"


def train_rows(files):
    rows = []
    for model in MODELS:
        peer_stem = f"train_{model}_pytorch"
        peer_why = missing(files, peer_stem)
        peer = None if peer_why else samples_per_s(files[peer_stem])
        if not peer_why and peer is None:
            peer_why = f"{peer_stem}.json has no samples_per_s"
        reference = f"PyTorch {peer:,.0f} samples/s" if peer else "PyTorch: missing"
        for suffix, label in LOCKSTEP_VARIANTS:
            stem = f"train_{model}_{suffix}"
            why = missing(files, stem)
            ours = None if why else samples_per_s(files[stem])
            case = f"{model}, batch 256, synthetic data: {label}"
            if ours is None:
                rows.append(("Training throughput", case, "missing", reference, "",
                             why or f"{stem}.json has no samples_per_s"))
                continue
            notes = f"median step {step_ms(files[stem])}"
            if peer_why:
                notes += f"; {peer_why}"
            else:
                notes += f" (PyTorch {step_ms(files[peer_stem])})"
                if model == "cnn":
                    notes += ("; PyTorch's defaults let cuDNN run FP32 convolutions in TF32, "
                              "Lockstep's GEMMs are FP32")
            rows.append(("Training throughput", case, f"{ours:,.0f} samples/s", reference,
                         ratio(ours, peer) if peer else "", notes))
    return rows


def nccl_rows(files):
    why = missing(files, "nccl")
    if why:
        rows = [("NCCL allreduce, 1 rank", "1 MiB - 1 GiB", "missing", "", "", why)]
    else:
        data = files["nccl"]
        rows = []
        for r in data.get("results", []):
            size = r["bytes"]
            label = f"{size >> 30} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"
            rows.append((
                f"NCCL allreduce, {data.get('ranks', 1)} rank (NCCL {data.get('nccl_version')})",
                label,
                f"algbw {r['lockstep_algbw_gbps']:.1f} GB/s ({r['lockstep_us_median']:.1f} us)",
                f"raw ncclAllReduce in place {r['raw_inplace_algbw_gbps']:.1f} GB/s "
                f"({r['raw_inplace_us_median']:.1f} us)",
                ratio(r["lockstep_algbw_gbps"], r["raw_inplace_algbw_gbps"]),
                f"busbw {r['lockstep_busbw_gbps']:.1f} GB/s (2(n-1)/n = 0 at one rank); "
                f"raw out of place {r['raw_outofplace_algbw_gbps']:.1f} GB/s"))
    rows.append(("NCCL allreduce, 2 ranks", "one GPU", "not run", "", "",
                 "NCCL refuses two ranks on one GPU at communicator creation "
                 "(\"Duplicate GPU detected\"); needs a machine with two GPUs"))
    return rows


def main_job_rows(files):
    rows = []
    for model, epochs in (("mlp", 2), ("cnn", 1)):
        stem = f"app_{model}"
        case = f"{model}, Fashion-MNIST, {epochs} epoch(s), batch 128, stopped and resumed"
        why = missing(files, stem)
        if why:
            rows.append(("Main job (train + predict apps)", case, "missing", "", "", why))
            continue
        r = files[stem]
        case = (f"{model}, Fashion-MNIST, {r['epochs']} epoch(s), batch 128, stopped at step "
                f"{r['stopped_at_step']} and resumed")
        speed = r.get("last_epoch_samples_per_s")
        notes = (f"last epoch {speed:,.0f} samples/s, train accuracy "
                 f"{r.get('last_epoch_train_accuracy')}; both runs {r['train_wall_s']} s "
                 "wall (start-up and data loading included)") if speed else \
            f"both runs {r['train_wall_s']} s wall"
        rows.append(("Main job (train + predict apps)", case,
                     f"test accuracy {r.get('test_accuracy')}",
                     f"predict from the last checkpoint: {r.get('predict_accuracy')}", "", notes))
    return rows


def markdown(rows):
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(HEADER), line(["---"] * len(HEADER))] + [line(r) for r in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json-dir", required=True)
    parser.add_argument("--out-json")
    parser.add_argument("--out-md")
    args = parser.parse_args()

    files = load_all(args.json_dir)
    rows = (device_rows(files) + gemm_rows(files) + train_rows(files) + nccl_rows(files) +
            main_job_rows(files))
    table = markdown(rows)
    if args.out_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, "w") as f:
            json.dump(files, f, indent=2)
    if args.out_md:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_md)), exist_ok=True)
        with open(args.out_md, "w") as f:
            f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
