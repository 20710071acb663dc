#!/usr/bin/python3
"""PyTorch peer of bench_train_throughput: the same models (Lockstep's built-in mlp and cnn,
layer for layer), the same data (Fashion-MNIST scaled to [0, 1]), the same global batch,
Adam at lr 1e-3, timed the same way (steady-state steps after a warm-up, no evaluation).

  /usr/bin/python3 bench/peer/pytorch_train.py --model cnn --ranks 2 --threads 1 --json out.json

--ranks 1 trains in this process; --ranks R > 1 starts R processes with
torch.multiprocessing.spawn, each holding a DistributedDataParallel replica (gloo) and its
slice of every global batch. --threads sets both PyTorch's intra-op threads and the BLAS
library's threads of each process (Debian's PyTorch calls the system BLAS, whose thread
count PyTorch does not manage). The BLAS really loaded is read from /proc/self/maps after a
matrix product and printed: against the netlib reference BLAS the comparison would be void.
"""

import argparse
import gzip
import json
import os
import socket
import statistics
import sys
import time

DEFAULT_STEPS = {"mlp": 200, "cnn": 60, "resnet20": 8}
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
SYNTHETIC_SAMPLES = 60000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["mlp", "cnn", "resnet20"], default="mlp")
    parser.add_argument("--data", default="fashion-mnist",
                        help="fashion-mnist, fashion-mnist:DIR or synthetic")
    parser.add_argument("--batch-size", type=int, default=256, help="global batch")
    parser.add_argument("--ranks", type=int, default=1, help="processes (DDP over gloo if > 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per process")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--steps", type=int, default=0,
                        help="timed steps (0: 200 mlp, 60 cnn, 8 resnet20)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before them")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args()
    if args.steps == 0:
        args.steps = DEFAULT_STEPS[args.model]
    for name in ("batch_size", "ranks", "threads", "steps", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, "
                         f"found {getattr(args, name)}")
    if args.batch_size < args.ranks:
        parser.error(f"--batch-size {args.batch_size} gives no rows to some of "
                     f"{args.ranks} ranks")
    if args.device == "cuda" and args.ranks != 1:
        parser.error("--device cuda runs one process on one GPU: use --ranks 1")
    return args


def limit_threads(threads):
    """Before torch is imported: OpenBLAS and OpenMP read these once, when they load.

    Debian's PyTorch runs two thread pools: GNU OpenMP for its own kernels and OpenBLAS's
    pthreads for matrix products. With OpenMP's default wait policy its idle workers spin and
    take the cores from OpenBLAS's threads: on 2 cores, 2 threads then train mlp 4 to 20 times
    slower than 1 thread. With the passive policy 2 threads are about 1.4 times faster than 1,
    so the comparison is with PyTorch at its best (a policy set by the caller is kept)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# ---- data ----------------------------------------------------------------------------------

def read_idx(path):
    """An IDX file (gzip or plain) as a numpy array of its declared shape."""
    import numpy as np
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0:2] != b"\0\0" or raw[2] != 0x08:
        raise SystemExit(f"{path}: expected an IDX file of unsigned bytes")
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find_file(directory, name):
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise SystemExit(f"Fashion-MNIST: expected {os.path.join(directory, name)}[.gz], found neither")


def load_train_split(data, seed):
    """Images [N, 1, 28, 28] as float32 in [0, 1] (byte / 255, as Lockstep scales them) and
    int64 labels."""
    import numpy as np
    if data == "synthetic":
        rng = np.random.default_rng(seed)
        images = rng.random((SYNTHETIC_SAMPLES, 1, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 10, SYNTHETIC_SAMPLES).astype(np.int64)
        return images, labels
    if data != "fashion-mnist" and not data.startswith("fashion-mnist:"):
        raise SystemExit(f"--data must be fashion-mnist[:DIR] or synthetic, found '{data}'")
    directory = data.split(":", 1)[1] if ":" in data else FASHION_MNIST_DIR
    images = read_idx(find_file(directory, "train-images-idx3-ubyte"))
    labels = read_idx(find_file(directory, "train-labels-idx1-ubyte"))
    images = (images.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return images, labels.astype(np.int64)


# ---- models: Lockstep's src/nn/model_spec.cpp builtin_spec, layer for layer -----------------

def resnet20():
    """Lockstep's built-in resnet20 (docs/models.md), layer for layer: a 3x3 stem of 16
    channels, three stages of three basic blocks of 16, 32 and 64 channels, stride-2 1x1
    convolution shortcuts with BatchNorm where a stage halves the size, global average pooling,
    Dense 10; convolutions without bias."""
    from torch import nn

    def conv_bn(inputs, outputs, kernel, stride, padding):
        return [nn.Conv2d(inputs, outputs, kernel, stride, padding, bias=False),
                nn.BatchNorm2d(outputs)]

    class Block(nn.Module):
        def __init__(self, inputs, outputs, stride):
            super().__init__()
            self.main = nn.Sequential(*conv_bn(inputs, outputs, 3, stride, 1), nn.ReLU(),
                                      *conv_bn(outputs, outputs, 3, 1, 1))
            self.shortcut = (nn.Sequential(*conv_bn(inputs, outputs, 1, stride, 0))
                             if stride != 1 else nn.Identity())

        def forward(self, x):
            return nn.functional.relu(self.shortcut(x) + self.main(x))

    layers = [*conv_bn(1, 16, 3, 1, 1), nn.ReLU()]
    channels = 16
    for stage in range(3):
        for block in range(3):
            outputs = 16 << stage
            layers.append(Block(channels, outputs, 2 if stage > 0 and block == 0 else 1))
            channels = outputs
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def build_model(name):
    from torch import nn
    if name == "resnet20":
        return resnet20()
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                             nn.ReLU(), nn.Linear(256, 10))
    # "valid" convolutions: 28 -> 24 -> pool 12 -> 8 -> pool 4, so Flatten gives 64*4*4.
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 128), nn.ReLU(),
                         nn.Linear(128, 10))


# ---- what runs underneath ------------------------------------------------------------------

def loaded_blas():
    """The BLAS libraries mapped into this process after a matrix product, with OpenBLAS's
    own description and thread count when it is the one."""
    import ctypes
    import torch
    a = torch.ones(64, 64)
    (a @ a).sum().item()
    libraries = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if "/" in line else ""
            base = os.path.basename(path)
            if any(k in base for k in ("blas", "lapack", "mkl")) and path not in libraries:
                libraries.append(path)
    info = {"libraries": libraries, "openblas_config": "", "openblas_threads": None}
    for path in libraries:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            continue
    config = torch.__config__.show()
    info["torch_blas_info"] = next((part.split("=", 1)[1] for part in config.replace(",", "\n")
                                    .split() if part.startswith("BLAS_INFO=")), "unknown")
    info["mkldnn"] = torch.backends.mkldnn.is_available()
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "")
    info["summary"] = info["openblas_config"] or (libraries[0] if libraries else "unknown")
    return info


def peak_rss_mib():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


# ---- training ------------------------------------------------------------------------------

def train(args, rank, world):
    """Runs warmup + steps steps; returns the seconds and losses of the timed steps and the
    samples (global rows) they trained on."""
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    images, labels = load_train_split(args.data, args.seed)
    model = build_model(args.model).to(device)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    # Every epoch ends with its partial batch, as in Lockstep's fit.
    batches = -(-len(images) // args.batch_size)
    total = args.warmup + args.steps
    times, losses, samples = [], [], 0
    previous = None
    step = 0
    epoch = 0
    while step < total:
        order = np.random.default_rng(args.seed + epoch).permutation(len(images))
        for b in range(batches):
            if step >= total:
                break
            batch = order[b * args.batch_size:(b + 1) * args.batch_size]
            # Rank r's rows: a contiguous slice, sizes differing by at most one.
            rows = batch[rank * len(batch) // world:(rank + 1) * len(batch) // world]
            x = torch.from_numpy(images[rows]).to(device)
            y = torch.from_numpy(labels[rows]).to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            value = loss.item()  # also waits for a GPU to finish the step
            step += 1
            now = time.perf_counter()
            if step > args.warmup:
                times.append(now - previous)
                losses.append(value)
                samples += len(batch)
            previous = now
        epoch += 1
    return times, losses, samples


def summarize(args, world, measured, rss_per_rank, blas):
    import torch
    times, losses, samples = measured
    mode = "DDP (gloo)" if world > 1 else "one process"
    return {
        "benchmark": "train_throughput",
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "mode": mode,
        "model": args.model,
        "parameters": sum(p.numel() for p in build_model(args.model).parameters()),
        "data": args.data,
        "device": args.device,
        "ranks": world,
        "threads_per_rank": args.threads,
        "global_batch": args.batch_size,
        "warmup_steps": args.warmup,
        "timed_steps": len(times),
        "samples_per_s": samples / sum(times),
        "ms_per_step_median": statistics.median(times) * 1e3,
        "ms_per_step_mean": statistics.fmean(times) * 1e3,
        "mean_loss_timed_steps": statistics.fmean(losses),
        "peak_rss_mib_max": max(rss_per_rank),
        "peak_rss_mib_per_rank": rss_per_rank,
        "blas": blas,
        "cpu_model": cpu_model(),
        "online_cpus": os.cpu_count(),
    }


def report(args, result):
    rows = [
        ("model", f"{result['model']} ({result['parameters']} parameters)"),
        ("data", result["data"]),
        ("device", result["device"]),
        ("mode", result["mode"]),
        ("ranks", result["ranks"]),
        ("threads per rank", result["threads_per_rank"]),
        ("global batch", result["global_batch"]),
        ("steps (timed after warm-up)", f"{result['timed_steps']} after {result['warmup_steps']}"),
        ("samples/s", f"{result['samples_per_s']:.1f}"),
        ("ms/step median", f"{result['ms_per_step_median']:.3f}"),
        ("ms/step mean", f"{result['ms_per_step_mean']:.3f}"),
        ("mean loss (timed steps)", f"{result['mean_loss_timed_steps']:.4f}"),
        ("peak RSS MiB (max)", f"{result['peak_rss_mib_max']:.0f}"),
        ("peak RSS MiB per rank", " ".join(f"{m:.0f}" for m in result["peak_rss_mib_per_rank"])),
        ("BLAS", result["blas"]["summary"]),
        ("BLAS threads", result["blas"]["openblas_threads"]),
        ("OMP_WAIT_POLICY", result["blas"]["omp_wait_policy"]),
        ("torch BLAS_INFO / oneDNN", f"{result['blas']['torch_blas_info']} / "
                                     f"{result['blas']['mkldnn']}"),
        ("torch", result["torch_version"]),
    ]
    width = max(len(name) for name, _ in rows)
    title = "PyTorch training throughput"
    print(f"{title:<{width}}  value")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


def distributed_worker(rank, args, port):
    import torch.distributed as dist
    limit_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=args.ranks)
    try:
        measured = train(args, rank, args.ranks)
        rss = [None] * args.ranks
        dist.all_gather_object(rss, peak_rss_mib())
        if rank == 0:
            report(args, summarize(args, args.ranks, measured, rss, loaded_blas()))
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = parse_args()
    limit_threads(args.threads)
    try:
        import torch
    except ImportError:
        raise SystemExit(f"{sys.executable} has no torch: apt-get install python3-torch")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch sees no CUDA GPU")
    if args.ranks == 1:
        measured = train(args, 0, 1)
        report(args, summarize(args, 1, measured, [peak_rss_mib()], loaded_blas()))
    else:
        import torch.multiprocessing as mp
        mp.spawn(distributed_worker, args=(args, free_port()), nprocs=args.ranks, join=True)


if __name__ == "__main__":
    main()
