#!/usr/bin/python3
# bench.py — nnkit vs ONNX Runtime on the same model, input and machine:
# seeded torchvision weights (tests/parity/gen_parity.py), exported to ONNX;
# nnkit runs the .onnx itself when it can read it (`nnkit info X.onnx`),
# else the same weights through `nnkit zoo create ARCH --weights X.pth`.
"""Benchmark nnkit against ONNX Runtime (onnxruntime-node).

For every model: both runtimes must agree on the outputs (checked before any
timing); then, per batch size and thread count, rounds alternate the two
runtimes (nnkit first on even rounds, ORT first on odd ones), each round
timing --runs runs after warm-ups; the cell reports the median of the
per-round medians and the ratio nnkit/ORT. --short is the CI mode: one small
model, one cell, few runs; it asserts that both ran and agreed, never a
timing. Exit status: 0 ok, 1 disagreement or a runtime failed, 2 usage.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "parity"))

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "vgg16"]
TARGET = {"resnet18": 0.9, "resnet50": 0.9, "vgg16": 0.9,
          "mobilenet_v2": 1.0, "mobilenet_v3_small": 1.0}
RTOL = 2e-4  # max|nnkit - ort| / max(1, max|ort|)


def log(*a):
    print(*a, flush=True)


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write("bench.py: command failed (%d): %s\n%s%s" % (
            r.returncode, " ".join(cmd), r.stdout[-2000:], r.stderr[-2000:]))
        sys.exit(1)
    return r.stdout


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    sys.exit("bench.py: no JSON line in output:\n" + text[-1000:])


def prepare(args, name):
    """Seeded weights -> .pth, .onnx and inputs x1/x8.npy under work/name."""
    import numpy as np
    import torch
    import gen_parity
    d = os.path.join(args.work, name)
    os.makedirs(d, exist_ok=True)
    seed = args.seed + 1000 * gen_parity.MODELS.index(name)
    stamp = "%s seed=%d torch=%s\n" % (name, seed, torch.__version__)
    files = [os.path.join(d, f) for f in
             ("model.pth", "model.onnx", "x1.npy", "x8.npy")]
    sp = os.path.join(d, "stamp")
    if all(os.path.exists(f) for f in files) and os.path.exists(sp) and \
            open(sp).read() == stamp:
        return d
    model = gen_parity.build(name, seed).float().eval()
    torch.save(model.state_dict(), files[0])
    g = torch.Generator().manual_seed(seed + 2)
    x1 = gen_parity.make_inputs(1, g)
    x8 = gen_parity.make_inputs(8, g)
    with torch.no_grad():
        torch.onnx.export(model, x1, files[1] + ".tmp", input_names=["input"],
                          output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "batch"},
                                        "logits": {0: "batch"}})
    os.replace(files[1] + ".tmp", files[1])
    np.save(files[2], x1.numpy())
    np.save(files[3], x8.numpy())
    with open(sp, "w") as f:
        f.write(stamp)
    return d


def nnkit_model(args, name, d):
    onnx = os.path.join(d, "model.onnx")
    r = subprocess.run([args.nnkit, "info", onnx], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode == 0:
        return onnx, "same .onnx file"
    nnk = os.path.join(d, "model.nnk")
    pth = os.path.join(d, "model.pth")
    if not os.path.exists(nnk) or os.path.getmtime(nnk) < os.path.getmtime(pth):
        run([args.nnkit, "zoo", "create", name, "--weights", pth, "-o", nnk])
    return nnk, "zoo create --weights (same seeded weights as the .onnx)"


def ort_cmd(args, onnx, x, threads, runs, warmup, save=None):
    cmd = ["node", os.path.join(HERE, "ort_bench.mjs"), onnx, x,
           "--threads", str(threads), "--runs", str(runs),
           "--warmup", str(warmup), "--ort-dir", args.ort_dir]
    if save:
        cmd += ["--save", save]
    return cmd


def check_agree(args, name, d, model, batch):
    import numpy as np
    x = os.path.join(d, "x%d.npy" % batch)
    out = os.path.join(d, "nnkit-out%d" % batch)
    run([args.nnkit, "run", model, "--input", x, "--output-dir", out])
    got = np.load(os.path.join(out, "logits.npy")) if os.path.exists(
        os.path.join(out, "logits.npy")) else np.load(
        os.path.join(out, sorted(os.listdir(out))[0]))
    ref_path = os.path.join(d, "ort-out%d.npy" % batch)
    info = last_json(run(ort_cmd(args, os.path.join(d, "model.onnx"), x, 1,
                                 1, 0, ref_path)))
    want = np.load(ref_path)
    if got.shape != want.shape:
        log("FAIL %s batch %d: nnkit output %s, ONNX Runtime %s" % (
            name, batch, got.shape, want.shape))
        sys.exit(1)
    err = float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
    agree = err <= RTOL and (got.argmax(1) == want.argmax(1)).all()
    log("%-20s batch %d: nnkit vs ONNX Runtime rel err %.2e, argmax %s  %s" % (
        name, batch, err, "same" if (got.argmax(1) == want.argmax(1)).all()
        else "DIFFERS", "ok" if agree else "FAIL"))
    if not agree:
        sys.exit(1)
    return info, err


def time_cell(args, d, model, batch, threads):
    x = os.path.join(d, "x%d.npy" % batch)
    onnx = os.path.join(d, "model.onnx")
    # Runs per round from a time budget, so VGG16 at batch 8 stays bearable.
    probe = last_json(run([args.nnkit, "bench", model, "--batch", str(batch),
                           "--threads", str(threads), "--runs", "1",
                           "--warmup", "1", "--json"]))
    runs = int(max(args.min_runs, min(args.runs, args.budget / max(
        1e-3, probe["median_ms"] * 1e-3))))
    warm = 1 if args.short else 2
    nn, oo, last_nn, ncpu, ocpu = [], [], None, [], []
    for r in range(args.rounds):
        order = ["nnkit", "ort"] if r % 2 == 0 else ["ort", "nnkit"]
        for who in order:
            if who == "nnkit":
                last_nn = last_json(run([args.nnkit, "bench", model, "--batch",
                                         str(batch), "--threads", str(threads),
                                         "--runs", str(runs), "--warmup",
                                         str(warm), "--json"]))
                nn.append(last_nn["median_ms"])
                ncpu.append(last_nn["cpu_ms_per_run"])
            else:
                o = last_json(run(ort_cmd(args, onnx, x, threads, runs, warm)))
                oo.append(o["median_ms"])
                ocpu.append(o["cpu_ms_per_run"])
    return (statistics.median(nn), statistics.median(oo), runs, last_nn,
            statistics.median(ncpu), statistics.median(ocpu))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def write_markdown(path, meta, cells):
    lines = [
        "| model | batch | threads | nnkit ms | ORT ms | nnkit/ORT | target "
        "| met | CPU-time ratio | nnkit GFLOP/s | % of peak | rel. err vs ORT |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        lines.append("| %s | %d | %d | %.2f | %.2f | **%.3f** | <= %.1f | %s "
                     "| %.3f | %.1f | %.0f%% | %.1e |" % (
                         c["model"], c["batch"], c["threads"], c["nnkit_ms"],
                         c["ort_ms"], c["ratio"], c["target"],
                         "yes" if c["ratio"] <= c["target"] else "**no**",
                         c["cpu_ratio"], c["nnkit_gflops"], c["peak_pct"], c["rel_err"]))
    head = ("CPU: %s; nnkit %s; onnxruntime-node %s; started %s; load "
            "average %.1f at start, %.1f at end (2 CPUs).\n\n" % (
                meta["cpu"], meta["nnkit"], meta["onnxruntime_node"],
                meta["date"], meta["loadavg_start"][0],
                meta["loadavg_end"][0]))
    with open(path + ".tmp", "w") as f:
        f.write(head + "\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnkit", default=os.environ.get("NNKIT_BIN", "nnkit"))
    ap.add_argument("--ort-dir", default=os.environ.get("ORT_NODE_DIR", HERE),
                    help="folder with node_modules/onnxruntime-node")
    ap.add_argument("--work", default="bench-work", help="scratch folder")
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 8])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--min-runs", type=int, default=3)
    ap.add_argument("--budget", type=float, default=3.0,
                    help="seconds of timed runs per runtime per round")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--short", action="store_true",
                    help="CI mode: mobilenet_v3_small, batch 1, 1 thread, "
                         "1 round of 2 runs; checks agreement, not speed")
    ap.add_argument("--json", help="also write all cells to this file")
    ap.add_argument("--markdown", help="also write the table as Markdown")
    args = ap.parse_args()
    if args.short:
        args.models, args.batches, args.threads = ["mobilenet_v3_small"], [1], [1]
        args.rounds, args.runs, args.min_runs = 1, 2, 2
    for m in args.models:
        if m not in MODELS:
            ap.error("unknown model %s (one of %s)" % (m, ", ".join(MODELS)))
    os.makedirs(args.work, exist_ok=True)
    load0 = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    cells = []
    for name in args.models:
        d = prepare(args, name)
        model, how = nnkit_model(args, name, d)
        log("%-20s nnkit runs %s (%s)" % (name, os.path.basename(model), how))
        errs = {}
        for b in args.batches:
            info, errs[b] = check_agree(args, name, d, model, b)
        for b in args.batches:
            for t in args.threads:
                nn, oo, runs, js, nc, oc = time_cell(args, d, model, b, t)
                ratio = nn / oo
                cell = {"model": name, "batch": b, "threads": t,
                        "nnkit_ms": nn, "ort_ms": oo, "ratio": ratio,
                        "runs": runs, "rounds": args.rounds,
                        "rel_err": errs[b], "target": TARGET[name],
                        "nnkit_cpu_ms": nc, "ort_cpu_ms": oc,
                        "cpu_ratio": nc / oc,
                        "nnkit_gflops": js["gflops"],
                        "peak_pct": js["peak_pct"], "nnkit_file": how}
                cells.append(cell)
                log("%-20s batch %d threads %d: nnkit %.2f ms  ORT %.2f ms  "
                    "ratio %.3f  cpu-time ratio %.3f  (target <= %.1f%s)" % (
                        name, b, t, nn, oo, ratio, nc / oc, TARGET[name],
                        "" if args.short else
                        ", met" if ratio <= TARGET[name] else ", MISSED"))
    load1 = os.getloadavg()
    meta = {"cpu": cpu_model(), "date": started.isoformat(timespec="seconds"),
            "nnkit": run([args.nnkit, "--version"]).strip(),
            "loadavg_start": load0, "loadavg_end": load1}
    try:
        pj = os.path.join(args.ort_dir, "node_modules", "onnxruntime-node",
                          "package.json")
        meta["onnxruntime_node"] = json.load(open(pj))["version"]
    except (OSError, ValueError, KeyError):
        meta["onnxruntime_node"] = "?"
    log("machine: %s; load average %.1f at start, %.1f at end" % (
        meta["cpu"], load0[0], load1[0]))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump({"meta": meta, "cells": cells}, f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    if args.markdown:
        write_markdown(args.markdown, meta, cells)
    if len(cells) != len(args.models) * len(args.batches) * len(args.threads):
        sys.exit("bench.py: some cells did not run")


if __name__ == "__main__":
    main()
