#!/usr/bin/python3
# bench/finetune.py — `nnkit finetune` against the same recipe in PyTorch
# 1.13 on the same image folder: LeNet-5, all layers trained, Adam lr 1e-3,
# batch 64, shuffled, images decoded from PNG files every epoch by worker
# threads/processes. Prints images/s per epoch (the first epoch includes
# warm-up) and, with --results, appends a row to bench/RESULTS.md.
#
#   python3 bench/finetune.py --nnkit build/nnkit --data FOLDER [--epochs 3]
#       [--threads 2] [--results bench/RESULTS.md]
#
# FOLDER is CLASS/IMAGE.png, e.g. from scripts/fashion-mnist-to-png.py
# (ROOT/train); --limit N builds a per-class subset of it (symlinks).
import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time


def run_nnkit(a, data, work):
    model = os.path.join(work, "lenet5.nnk")
    subprocess.run([a.nnkit, "zoo", "create", "lenet5", "-o", model], check=True,
                   stdout=subprocess.DEVNULL)
    cmd = [a.nnkit, "finetune", model, "--data", data, "-o",
           os.path.join(work, "out.nnk"), "--train-layers", "all", "--epochs",
           str(a.epochs), "--batch", "64", "--lr", "0.001", "--optimizer", "adam",
           "--threads", str(a.threads)]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(p.stderr)
    ips = [float(m.group(2)) for m in
           re.finditer(r"^epoch (\d+)/\d+ .* (\d+) img/s", p.stdout, re.M)]
    acc = [float(m.group(1)) for m in
           re.finditer(r"^epoch \d+/\d+\s+loss \S+\s+acc ([0-9.]+)%", p.stdout, re.M)]
    return ips, acc, time.time() - t0


def run_torch(a, data, threads):
    import torch
    import torch.nn as nn
    import torchvision.datasets as dsets
    import torchvision.transforms as T
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    tf = T.Compose([T.Grayscale(1), T.ToTensor(), T.Normalize([0.5], [0.5])])
    ds = dsets.ImageFolder(data, transform=tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True,
                                     num_workers=a.threads,
                                     persistent_workers=True)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, len(ds.classes)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    ips, acc = [], []
    t_all = time.time()
    for _ in range(a.epochs):
        t0, n, ok = time.time(), 0, 0
        net.train()
        for x, y in dl:
            opt.zero_grad()
            out = net(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            n += x.shape[0]
            ok += (out.argmax(1) == y).sum().item()
        ips.append(n / (time.time() - t0))
        acc.append(100.0 * ok / n)
    return ips, acc, time.time() - t_all, torch.__version__


def subset(src, dst, limit):
    for c in sorted(os.listdir(src)):
        if not os.path.isdir(os.path.join(src, c)):
            continue
        os.makedirs(os.path.join(dst, c))
        for f in sorted(os.listdir(os.path.join(src, c)))[:limit]:
            os.symlink(os.path.join(src, c, f), os.path.join(dst, c, f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnkit", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--results", default=None)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nnkit-bench-")
    try:
        data = a.data
        if a.limit:
            data = os.path.join(work, "data")
            subset(a.data, data, a.limit)
        n = sum(len(fs) for _, _, fs in os.walk(data, followlinks=True))
        k_ips, k_acc, k_t = run_nnkit(a, data, work)
        # torch's OpenMP threads can lose to one thread on a busy machine:
        # the reference is the faster of --threads and 1 compute thread
        # (both with --threads DataLoader worker processes).
        runs = [run_torch(a, data, t) + (t,) for t in sorted({a.threads, 1})]
        for r in runs:
            print(f"torch, {r[4]} compute thread(s): " +
                  ", ".join(f"{x:.0f}" for x in r[0]) + " img/s")
        t_ips, t_acc, t_t, tv, t_threads = min(runs, key=lambda r: r[2])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n} images, {a.epochs} epochs, {a.threads} threads")
    print(f"{'epoch':>5}  {'nnkit img/s':>11}  {'torch img/s':>11}  {'ratio':>6}  "
          f"{'nnkit acc':>9}  {'torch acc':>9}")
    for e in range(a.epochs):
        print(f"{e + 1:>5}  {k_ips[e]:>11.0f}  {t_ips[e]:>11.0f}  "
              f"{k_ips[e] / t_ips[e]:>6.2f}  {k_acc[e]:>8.2f}%  {t_acc[e]:>8.2f}%")
    later_k = sum(k_ips[1:]) / max(1, len(k_ips) - 1)
    later_t = sum(t_ips[1:]) / max(1, len(t_ips) - 1)
    print(f"total wall time: nnkit {k_t:.1f} s, torch {t_t:.1f} s")
    if a.results:
        load = os.getloadavg()[0]
        row = (f"| {datetime.date.today()} | {platform.machine()}, {os.cpu_count()} CPUs "
               f"(load {load:.1f}) | {n} | {a.threads} | {k_ips[0]:.0f} / {t_ips[0]:.0f} = "
               f"{k_ips[0] / t_ips[0]:.2f} | {later_k:.0f} / {later_t:.0f} = "
               f"{later_k / later_t:.2f} | {k_acc[-1]:.1f}% / {t_acc[-1]:.1f}% | "
               f"torch {tv}, {t_threads} compute thread(s) |\n")
        with open(a.results, "a") as f:
            f.write(row)
        print(f"appended to {a.results}")


if __name__ == "__main__":
    main()
