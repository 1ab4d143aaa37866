#!/usr/bin/python3
# check_parity.py — one model-parity test: builds the zoo model from the
# PyTorch state_dict that gen_parity.py wrote, runs it with `nnkit run` at
# batch 1 and 8, and compares the logits with PyTorch's.
"""Check nnkit's logits against PyTorch's for one torchvision model.

  $NNKIT_BIN zoo create NAME --weights GEN/NAME.pth -o WORK/NAME.nnk
  $NNKIT_BIN run WORK/NAME.nnk --input GEN/NAME/xB.npy --output-dir WORK/outB
  (B = 1, 8; then batch 1 again with NNKIT_REFERENCE=1 unless --no-reference)

Passes when, for every run, max|got - want| <= max(1e-4 * max|want|, 1e-4).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

REL_TOL = 1e-4
ABS_TOL = 1e-4


def run(cmd, env=None):
    print("$ " + " ".join(cmd))
    sys.stdout.flush()
    t0 = time.time()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    out = r.stdout.rstrip()
    if out:
        print("\n".join("  | " + line for line in out.splitlines()[-40:]))
    print("  (exit %d, %.1fs)" % (r.returncode, time.time() - t0))
    sys.stdout.flush()
    if r.returncode != 0:
        sys.exit("check_parity.py: command failed with exit code %d: %s"
                 % (r.returncode, " ".join(cmd)))


def load_output(outdir):
    path = os.path.join(outdir, "logits.npy")
    if not os.path.exists(path):
        found = sorted(f for f in os.listdir(outdir) if f.endswith(".npy"))
        sys.exit("check_parity.py: %s not written by nnkit run (found: %s)"
                 % (path, ", ".join(found) or "nothing"))
    return np.load(path)


def compare(label, got, want):
    """Print got/want side by side; return True when within tolerance."""
    if got.shape != want.shape:
        print("%s: FAIL shape %s, expected %s" % (label, got.shape, want.shape))
        return False
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    if not np.all(np.isfinite(got)):
        print("%s: FAIL %d non-finite values" % (label, np.sum(~np.isfinite(got))))
        return False
    peak = float(np.max(np.abs(want)))
    tol = max(REL_TOL * peak, ABS_TOL)
    diff = np.abs(got - want)
    err = float(np.max(diff))
    where = np.unravel_index(int(np.argmax(diff)), diff.shape)
    top_got = np.argmax(got, axis=1)
    top_want = np.argmax(want, axis=1)
    print("%s: shape %s  max|want| %.6g  max|got-want| %.3g at %s  tol %.3g  "
          "(%.3g of tol)  argmax agree %d/%d"
          % (label, list(want.shape), peak, err, list(int(i) for i in where),
             tol, err / tol, int(np.sum(top_got == top_want)), len(top_got)))
    idx = sorted(set([0, 1, 2, want.shape[1] - 1, int(top_want[0]), int(where[1])]))
    print("    %-14s %14s %14s %11s" % ("logit[0][j]", "nnkit", "pytorch", "diff"))
    for j in idx:
        print("    %-14s %14.7g %14.7g %11.3g"
              % ("j=%d" % j, got[0, j], want[0, j], got[0, j] - want[0, j]))
    ok = err <= tol
    print("%s: %s" % (label, "ok" if ok else "FAIL (max|got-want| %.3g > tol %.3g)"
                      % (err, tol)))
    sys.stdout.flush()
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--gen", required=True, help="directory gen_parity.py wrote")
    ap.add_argument("--work", required=True, help="scratch directory for this test")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip the NNKIT_REFERENCE=1 run at batch 1")
    ap.add_argument("--keep", action="store_true", help="keep the .nnk and outputs")
    args = ap.parse_args()

    nnkit = os.environ.get("NNKIT_BIN")
    if not nnkit or not os.access(nnkit, os.X_OK):
        sys.exit("check_parity.py: NNKIT_BIN is not set to an executable nnkit (got %r)"
                 % nnkit)
    name = args.model
    pth = os.path.join(args.gen, name + ".pth")
    mdir = os.path.join(args.gen, name)
    if not os.path.exists(pth):
        sys.exit("check_parity.py: %s missing: run gen_parity.py (ctest fixture "
                 "parity-gen) first" % pth)
    work = os.path.join(args.work, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    nnk = os.path.join(work, name + ".nnk")

    run([nnkit, "zoo", "create", name, "--weights", pth, "-o", nnk])

    runs = [(int(b), False) for b in args.batches.split(",")]
    if not args.no_reference:
        runs.append((1, True))
    ok = True
    for batch, reference in runs:
        outdir = os.path.join(work, "out%d%s" % (batch, "-ref" if reference else ""))
        env = dict(os.environ)
        env.pop("NNKIT_REFERENCE", None)
        if reference:
            env["NNKIT_REFERENCE"] = "1"
        os.makedirs(outdir)
        run([nnkit, "run", nnk, "--input", os.path.join(mdir, "x%d.npy" % batch),
             "--output-dir", outdir], env=env)
        got = load_output(outdir)
        want = np.load(os.path.join(mdir, "want%d.npy" % batch))
        label = "%s batch %d%s" % (name, batch, " (NNKIT_REFERENCE=1)" if reference else "")
        ok = compare(label, got, want) and ok

    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("%s: %s" % (name, "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
