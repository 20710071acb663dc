#!/usr/bin/env python3
"""Summarizes a bench/compare.sh run: medians over the A/B pairs of every configuration, the
ratios Lockstep is held to with their targets, the allreduce table, the BLAS each side used
and the machine. Prints markdown and writes everything as one JSON file. Standard library
only.

  python3 bench/summarize.py --runs bench-results/runs --json bench-results/compare.json
"""

import argparse
import glob
import json
import os
import re
import statistics
import sys

# The configurations compare.sh runs, in table order: (key, description).
CONFIGS = [
    ("lockstep-1", "Lockstep, 1 rank, 1 BLAS thread"),
    ("lockstep-2", "Lockstep, 2 ranks (mpirun), 1 BLAS thread each"),
    ("pytorch-1x1", "PyTorch, 1 process, 1 thread"),
    ("pytorch-1x2", "PyTorch, 1 process, 2 threads"),
    ("pytorch-ddp-2", "PyTorch DDP (gloo), 2 ranks, 1 thread each"),
]
MODELS = ["mlp", "cnn", "resnet20"]
ALLREDUCE_TARGET_FROM_BYTES = 64 << 10

# (model, name, numerator, denominator, factor, target or None). A ratio is
# samples/s(numerator) / (factor * samples/s(denominator)).
RATIOS = [
    ("mlp", "Lockstep 2 ranks / PyTorch DDP 2 ranks", "lockstep-2", "pytorch-ddp-2", 1, 2.5),
    ("mlp", "Lockstep 2 ranks / PyTorch 1 process 2 threads", "lockstep-2", "pytorch-1x2", 1, 1.3),
    ("mlp", "Lockstep scaling efficiency, 2 ranks / (2 x 1 rank)", "lockstep-2", "lockstep-1", 2,
     0.90),
    ("mlp", "PyTorch DDP scaling efficiency, 2 ranks / (2 x 1 process 1 thread)",
     "pytorch-ddp-2", "pytorch-1x1", 2, None),
    ("cnn", "Lockstep 2 ranks / PyTorch DDP 2 ranks", "lockstep-2", "pytorch-ddp-2", 1, 2.0),
    ("cnn", "Lockstep 2 ranks / PyTorch 1 process 2 threads", "lockstep-2", "pytorch-1x2", 1,
     None),
    ("cnn", "Lockstep scaling efficiency, 2 ranks / (2 x 1 rank)", "lockstep-2", "lockstep-1", 2,
     0.90),
    ("cnn", "PyTorch DDP scaling efficiency, 2 ranks / (2 x 1 process 1 thread)",
     "pytorch-ddp-2", "pytorch-1x1", 2, None),
    ("resnet20", "Lockstep 2 ranks / PyTorch DDP 2 ranks", "lockstep-2", "pytorch-ddp-2", 1,
     None),
    ("resnet20", "Lockstep 2 ranks / PyTorch 1 process 2 threads", "lockstep-2", "pytorch-1x2",
     1, None),
    ("resnet20", "Lockstep scaling efficiency, 2 ranks / (2 x 1 rank)", "lockstep-2",
     "lockstep-1", 2, None),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", required=True,
                        help="folder of <model>__<config>__<pair>.json and allreduce.json")
    parser.add_argument("--json", required=True, help="the summary JSON written")
    parser.add_argument("--meta", help="JSON object of facts about the run (command, load, ...)")
    return parser.parse_args()


def load_runs(folder):
    """{(model, config): [result, ...]} in pair order."""
    runs = {}
    pattern = re.compile(r"^(\w+)__([\w-]+)__(\d+)\.json$")
    for path in sorted(glob.glob(os.path.join(folder, "*__*__*.json"))):
        match = pattern.match(os.path.basename(path))
        if not match:
            continue
        model, config, pair = match.group(1), match.group(2), int(match.group(3))
        with open(path) as f:
            runs.setdefault((model, config), []).append((pair, json.load(f)))
    return {key: [r for _, r in sorted(values, key=lambda v: v[0])] for key, values in runs.items()}


def throughput_rows(runs):
    rows = []
    for model in MODELS:
        for config, description in CONFIGS:
            results = runs.get((model, config), [])
            if not results:
                continue
            rates = [r["samples_per_s"] for r in results]
            rows.append({
                "model": model,
                "config": config,
                "description": description,
                "pairs": len(results),
                "samples_per_s": rates,
                "samples_per_s_median": statistics.median(rates),
                "ms_per_step_median": statistics.median(r["ms_per_step_median"] for r in results),
                "peak_rss_mib_max": max(r["peak_rss_mib_max"] for r in results),
                "mean_loss_timed_steps": statistics.median(r["mean_loss_timed_steps"]
                                                           for r in results),
                "blas": results[0]["blas"]["summary"],
            })
    return rows


def ratio_rows(throughput):
    medians = {(r["model"], r["config"]): r["samples_per_s_median"] for r in throughput}
    per_pair = {(r["model"], r["config"]): r["samples_per_s"] for r in throughput}
    rows = []
    for model, name, numerator, denominator, factor, target in RATIOS:
        top, bottom = (model, numerator), (model, denominator)
        if top not in medians or bottom not in medians:
            continue
        value = medians[top] / (factor * medians[bottom])
        pairs = [a / (factor * b) for a, b in zip(per_pair[top], per_pair[bottom])]
        rows.append({"model": model, "metric": name, "value": value, "per_pair": pairs,
                     "target": target, "met": None if target is None else value >= target})
    return rows


def allreduce_summary(folder):
    path = os.path.join(folder, "allreduce.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        result = json.load(f)
    large = [r["ratio"] for r in result["results"] if r["bytes"] >= ALLREDUCE_TARGET_FROM_BYTES]
    result["min_ratio_from_64KiB"] = min(large) if large else None
    result["target"] = 0.95
    result["met"] = None if not large else min(large) >= 0.95
    return result


def format_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def verdict(met):
    return "—" if met is None else ("met" if met else "**missed**")


def markdown(summary):
    lines = []
    machine = summary["machine"]
    lines.append(f"Machine: {machine['cpu_model']}, {machine['online_cpus']} CPUs (nproc "
                 f"{machine['nproc']}); load average {machine.get('load_start', '?')} at the "
                 f"start, {machine.get('load_end', '?')} at the end.")
    blas = summary["blas"]
    lines.append(f"BLAS: Lockstep `{blas['lockstep']}`; PyTorch {blas['torch_version']} "
                 f"`{blas['pytorch']}`.")
    lines.append("")
    lines.append("| model | configuration | samples/s (median) | per pair | ms/step | peak RSS MiB |")
    lines.append("| --- | --- | ---: | --- | ---: | ---: |")
    for r in summary["throughput"]:
        per_pair = ", ".join(f"{v:.0f}" for v in r["samples_per_s"])
        lines.append(f"| {r['model']} | {r['description']} | {r['samples_per_s_median']:.0f} | "
                     f"{per_pair} | {r['ms_per_step_median']:.1f} | {r['peak_rss_mib_max']:.0f} |")
    lines.append("")
    lines.append("| model | ratio | value | per pair | target | |")
    lines.append("| --- | --- | ---: | --- | ---: | --- |")
    for r in summary["ratios"]:
        per_pair = ", ".join(f"{v:.2f}" for v in r["per_pair"])
        target = "—" if r["target"] is None else f"≥ {r['target']:.2f}"
        lines.append(f"| {r['model']} | {r['metric']} | {r['value']:.2f} | {per_pair} | {target} "
                     f"| {verdict(r['met'])} |")
    allreduce = summary["allreduce"]
    if allreduce:
        lines.append(f"| — | allreduce, Lockstep busbw / raw MPI_Allreduce, min from 64 KiB "
                     f"({allreduce['ranks']} ranks) | {allreduce['min_ratio_from_64KiB']:.2f} | "
                     f"| ≥ 0.95 | {verdict(allreduce['met'])} |")
        lines.append("")
        lines.append(f"Allreduce, {allreduce['ranks']} ranks, {allreduce['mpi_library']}, "
                     f"median of {allreduce['iterations']} calls (slowest rank each):")
        lines.append("")
        lines.append("| size | buckets | Lockstep ms | raw MPI ms | Lockstep busbw GB/s | "
                     "raw busbw GB/s | ratio | exact path ms |")
        lines.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in allreduce["results"]:
            lines.append(f"| {format_bytes(r['bytes'])} | {r['buckets']} | "
                         f"{r['lockstep']['median_ms']:.3f} | {r['raw_mpi']['median_ms']:.3f} | "
                         f"{r['lockstep']['busbw_gbps']:.2f} | {r['raw_mpi']['busbw_gbps']:.2f} | "
                         f"{r['ratio']:.3f} | {r['lockstep_exact']['median_ms']:.3f} |")
    return "\n".join(lines)


def machine_facts(meta):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = {"cpu_model": cpu, "online_cpus": os.cpu_count(),
             "nproc": len(os.sched_getaffinity(0))}
    for key in ("load_start", "load_end"):
        if key in meta:
            facts[key] = meta[key]
    return facts


def blas_facts(runs):
    def first(framework_prefix, field):
        for (model, config), results in sorted(runs.items()):
            if config.startswith(framework_prefix):
                return results[0].get(field) if field != "blas" else results[0]["blas"]["summary"]
        return "not run"
    return {"lockstep": first("lockstep", "blas"), "pytorch": first("pytorch", "blas"),
            "torch_version": first("pytorch", "torch_version")}


def main():
    args = parse_args()
    meta = {}
    if args.meta:
        with open(args.meta) as f:
            meta = json.load(f)
    runs = load_runs(args.runs)
    if not runs:
        raise SystemExit(f"summarize: no <model>__<config>__<pair>.json results in {args.runs}")
    throughput = throughput_rows(runs)
    summary = {
        "meta": meta,
        "machine": machine_facts(meta),
        "blas": blas_facts(runs),
        "throughput": throughput,
        "ratios": ratio_rows(throughput),
        "allreduce": allreduce_summary(args.runs),
        "runs": {f"{model}__{config}": results for (model, config), results in runs.items()},
    }
    summary["markdown"] = markdown(summary)
    with open(args.json, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(summary["markdown"])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
