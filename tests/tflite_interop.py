#!/usr/bin/python3
# tflite_interop.py — interop checks of the .tflite files nnkit writes and
# reads, against the real TFLite interpreter (LiteRT, npm @litertjs/core,
# run by tests/tflite-run.mjs) and PyTorch's logits (tests/parity).
"""TFLite interop checks for one model (or for a foreign .tflite file).

Zoo model with PyTorch reference (GEN from tests/parity/gen_parity.py):
  nnkit zoo create NAME --weights GEN/NAME.pth -o NAME.nnk
  nnkit convert NAME.nnk NAME.tflite           -> no TRANSPOSE op inside
  LiteRT(NAME.tflite, x1 as NHWC)              ~ GEN/NAME/want1.npy
  nnkit run NAME.tflite                        ~ GEN/NAME/want1.npy
  NAME.tflite -> .nnk -> .tflite               same outputs (nnkit, LiteRT)
  --keep-nchw-io: exactly one TRANSPOSE per rank-4 boundary, same logits
  --fp16-weights: LiteRT ~ nnkit on the same file (fp16 weights)
  .onnx -> .tflite -> .onnx (when this nnkit writes .onnx; else skipped)
--seed S instead of GEN (mobilenet_v1, no torchvision twin): the reference
is nnkit's own run of the .nnk, with weights from tests/zoo_keys.py's
PyTorch module (random BatchNorm statistics) so the logits are not ~0;
PyTorch in float64 is checked as well.
--foreign FILE: a .tflite written by someone else; nnkit ~ LiteRT.

Tolerance: max|got - want| <= max(1e-4 * max|want|, 1e-4), the parity
tests' bound.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

REL_TOL = 1e-4
ABS_TOL = 1e-4
# fp16 weights change the model itself; LiteRT and nnkit run the same fp16
# file, so they agree as closely as float32 compute allows.
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None, ok_codes=(0,)):
    print("$ " + " ".join(cmd))
    sys.stdout.flush()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    out = r.stdout.rstrip()
    if out:
        print("\n".join("  | " + l for l in out.splitlines()[-20:]))
    if r.returncode not in ok_codes:
        sys.exit("tflite_interop.py: command failed (exit %d): %s"
                 % (r.returncode, " ".join(cmd)))
    return r


# ---- an independent look at the file: opcodes of subgraph 0 -------------

def tflite_ops(path):
    """Builtin op codes of every operator in subgraph 0, read with a
    minimal FlatBuffers walk of its own (not nnkit's reader)."""
    b = open(path, "rb").read()
    if b[4:8] != b"TFL3":
        raise ValueError("%s: identifier %r, expected TFL3" % (path, b[4:8]))
    u32 = lambda o: struct.unpack_from("<I", b, o)[0]
    i32 = lambda o: struct.unpack_from("<i", b, o)[0]

    def field(t, i):
        vt = t - i32(t)
        vlen = struct.unpack_from("<H", b, vt)[0]
        if 4 + 2 * i >= vlen:
            return None
        off = struct.unpack_from("<H", b, vt + 4 + 2 * i)[0]
        return t + off if off else None

    def ref(t, i):
        f = field(t, i)
        return f + u32(f) if f is not None else None

    def tables(v):
        return [v + 4 + 4 * k + u32(v + 4 + 4 * k) for k in range(u32(v))]

    root = u32(0)
    codes = []
    for oc in tables(ref(root, 1)):
        f0, f3 = field(oc, 0), field(oc, 3)
        dep = struct.unpack_from("<b", b, f0)[0] if f0 is not None else 0
        code = i32(f3) if f3 is not None else 0
        codes.append(max(dep, code))
    sg = tables(ref(root, 2))[0]
    ops = []
    for op in tables(ref(sg, 3)):
        f = field(op, 0)
        ops.append(codes[u32(f) if f is not None else 0])
    return ops


TRANSPOSE = 39
DEQUANTIZE = 6


def compare(label, got, want, tol=None):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        print("%s: FAIL shape %s, expected %s" % (label, got.shape, want.shape))
        return False
    if not np.all(np.isfinite(got)):
        print("%s: FAIL non-finite values" % label)
        return False
    peak = float(np.max(np.abs(want))) if want.size else 0.0
    if tol is None:
        tol = max(REL_TOL * peak, ABS_TOL)
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    ok = err <= tol
    agree = ""
    if want.ndim == 2:
        agree = "  argmax agree %d/%d" % (
            int(np.sum(np.argmax(got, 1) == np.argmax(want, 1))), want.shape[0])
    print("%s: max|want| %.6g  max|got-want| %.3g  tol %.3g%s  %s"
          % (label, peak, err, tol, agree, "ok" if ok else "FAIL"))
    sys.stdout.flush()
    return ok


class Env:
    def __init__(self, args):
        self.nnkit = os.environ.get("NNKIT_BIN")
        if not self.nnkit or not os.access(self.nnkit, os.X_OK):
            sys.exit("tflite_interop.py: NNKIT_BIN must name the nnkit binary")
        self.node = shutil.which("node")
        if not self.node:
            sys.exit("tflite_interop.py: node (nodejs) not found")
        self.npm = args.npm
        core = os.path.join(self.npm, "node_modules", "@litertjs", "core")
        if not os.path.isdir(core):
            sys.exit("tflite_interop.py: %s missing: the fixture "
                     "tflite-npm-setup installs it" % core)
        self.work = args.work

    def litert(self, model, inputs, outdir):
        """Run model in LiteRT on raw input arrays; returns the outputs
        (name -> array) in signature order."""
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        files = []
        for i, x in enumerate(inputs):
            f = os.path.join(outdir, "input_%d.bin" % i)
            np.ascontiguousarray(x).tofile(f)
            files.append(f)
        env = dict(os.environ, NK_NPM_PREFIX=self.npm)
        run([self.node, os.path.join(HERE, "tflite-run.mjs"), model, outdir]
            + files, env=env)
        info = json.load(open(os.path.join(outdir, "outputs.json")))
        outs = []
        for i, o in enumerate(info):
            dt = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8,
                  "int32": np.int32}[o["dtype"]]
            a = np.fromfile(os.path.join(outdir, "output_%d.bin" % i), dtype=dt)
            outs.append((o["name"], a.reshape(o["shape"])))
        return outs

    def litert_once(self, nnk, name, x, work):
        t = os.path.join(work, name + ".first.tflite")
        run([self.nnkit, "convert", nnk, t])
        return self.litert(t, [nhwc(x)], os.path.join(work, "litert0"))[0][1]

    def nnkit_run(self, model, inputs, outdir, names):
        """nnkit run with .npy inputs; returns the named outputs."""
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        cmd = [self.nnkit, "run", model, "--output-dir", outdir]
        for i, x in enumerate(inputs):
            f = os.path.join(outdir, "in%d.npy" % i)
            np.save(f, x)
            cmd += ["--input", f]
        run(cmd)
        return [np.load(os.path.join(outdir, n + ".npy")) for n in names]


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def check_model(e, args):
    name = args.model
    work = os.path.join(e.work, name)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    nnk = os.path.join(work, name + ".nnk")
    tfl = os.path.join(work, name + ".tflite")
    ok = True
    if args.gen:
        pth = os.path.join(args.gen, name + ".pth")
        if not os.path.exists(pth):
            sys.exit("tflite_interop.py: %s missing (run the parity-gen "
                     "fixture first)" % pth)
        run([e.nnkit, "zoo", "create", name, "--weights", pth, "-o", nnk])
        x = np.load(os.path.join(args.gen, name, "x1.npy"))
        want = np.load(os.path.join(args.gen, name, "want1.npy"))
        ref = "pytorch"
    else:
        # No torchvision twin: the zoo's seeded model is the reference
        # (nnkit's own run of the .nnk). Its torchvision-style init makes
        # the logits vanish (~1e-17: depthwise kaiming fan_out), which
        # would make the comparison blind, so the weights come from the
        # reference module of tests/zoo_keys.py with random BatchNorm
        # statistics, saved as a .pth; PyTorch (float64) is then a second
        # reference.
        pth = os.path.join(work, name + ".pth")
        x, want_torch = torch_reference(name, args.seed, pth)
        run([e.nnkit, "zoo", "create", name, "--seed", str(args.seed),
             "--weights", pth, "-o", nnk])
        want = e.nnkit_run(nnk, [x], os.path.join(work, "ref"), ["logits"])[0]
        ref = "nnkit .nnk"
        if float(np.max(np.abs(want))) < 1e-2:
            sys.exit("tflite_interop.py: %s logits are ~0 (%g): the check "
                     "would be blind" % (name, float(np.max(np.abs(want)))))
        ok &= compare("%s nnkit .nnk vs pytorch (float64)" % name, want,
                      want_torch)
        lr0 = e.litert_once(nnk, name, x, work)
        ok &= compare("%s LiteRT vs pytorch (float64)" % name, lr0, want_torch)

    run([e.nnkit, "convert", nnk, tfl])
    ops = tflite_ops(tfl)
    n_tr = ops.count(TRANSPOSE)
    print("%s: %d operators, %d TRANSPOSE" % (name, len(ops), n_tr))
    if n_tr:
        print("%s: FAIL the converted graph contains TRANSPOSE ops" % name)
        ok = False

    # the real interpreter against PyTorch
    lr = e.litert(tfl, [nhwc(x)], os.path.join(work, "litert"))
    ok &= compare("%s LiteRT vs %s" % (name, ref), lr[0][1], want)
    # nnkit reading its own .tflite
    nk = e.nnkit_run(tfl, [nhwc(x)], os.path.join(work, "nnkit-tflite"),
                     ["logits"])[0]
    ok &= compare("%s nnkit(.tflite) vs %s" % (name, ref), nk, want)

    # .tflite -> .nnk -> .tflite
    rt_nnk = os.path.join(work, name + ".rt.nnk")
    rt_tfl = os.path.join(work, name + ".rt.tflite")
    run([e.nnkit, "convert", tfl, rt_nnk])
    run([e.nnkit, "convert", rt_nnk, rt_tfl])
    if tflite_ops(rt_tfl) != ops:
        print("%s: FAIL round trip changed the operators" % name)
        ok = False
    nk2 = e.nnkit_run(rt_tfl, [nhwc(x)], os.path.join(work, "nnkit-rt"),
                      ["logits"])[0]
    ok &= compare("%s round trip .tflite->.nnk->.tflite (nnkit)" % name, nk2,
                  nk, tol=0.0)
    lr2 = e.litert(rt_tfl, [nhwc(x)], os.path.join(work, "litert-rt"))
    ok &= compare("%s round trip (LiteRT)" % name, lr2[0][1], lr[0][1],
                  tol=0.0)

    if args.full:
        # --keep-nchw-io: NCHW at the boundary, one TRANSPOSE for it
        kt = os.path.join(work, name + ".nchw.tflite")
        run([e.nnkit, "convert", nnk, kt, "--keep-nchw-io"])
        kops = tflite_ops(kt)
        if kops.count(TRANSPOSE) != 1:
            print("%s: FAIL --keep-nchw-io has %d TRANSPOSE ops, expected 1 "
                  "(the 4-D input)" % (name, kops.count(TRANSPOSE)))
            ok = False
        lk = e.litert(kt, [x], os.path.join(work, "litert-nchw"))
        ok &= compare("%s --keep-nchw-io LiteRT vs %s" % (name, ref),
                      lk[0][1], want)
        # fp16 weights: the converter's float16 quantization
        ht = os.path.join(work, name + ".fp16.tflite")
        run([e.nnkit, "convert", nnk, ht, "--fp16-weights"])
        hops = tflite_ops(ht)
        print("%s --fp16-weights: %d DEQUANTIZE, file %.1f MB (float32 %.1f "
              "MB)" % (name, hops.count(DEQUANTIZE),
                       os.path.getsize(ht) / 1e6, os.path.getsize(tfl) / 1e6))
        if not hops.count(DEQUANTIZE) or \
                os.path.getsize(ht) > 0.6 * os.path.getsize(tfl):
            print("%s: FAIL fp16 weights not stored as float16" % name)
            ok = False
        lh = e.litert(ht, [nhwc(x)], os.path.join(work, "litert-fp16"))
        nh = e.nnkit_run(ht, [nhwc(x)], os.path.join(work, "nnkit-fp16"),
                         ["logits"])[0]
        ok &= compare("%s --fp16-weights LiteRT vs nnkit" % name, lh[0][1],
                      nh)
        # and the fp16 model is still the model: top-1 agrees with float32
        print("%s --fp16-weights vs %s: max|diff| %.3g (fp16 rounding of "
              "weights; reported, not a pass criterion)"
              % (name, ref, float(np.max(np.abs(lh[0][1] - want)))))

    ok &= check_onnx(e, name, nnk, x, work)
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def torch_reference(name, seed, pth):
    """A seeded PyTorch model of tests/zoo_keys.py's reference module with
    random BatchNorm parameters and statistics; saves its state dict to pth
    and returns (x [1,3,224,224] float32, float64 logits as float32)."""
    import torch
    sys.path.insert(0, HERE)
    import zoo_keys
    class MobileNetV1(zoo_keys.MobileNetV1):
        # zoo_keys.py compares state dicts only; the forward pass as
        # docs/zoo.md describes it: features, global average pool, flatten,
        # classifier.
        def forward(self, x):
            return self.classifier(torch.flatten(
                torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1),
                1))

    torch.manual_seed(seed)
    model = {"mobilenet_v1": MobileNetV1}[name]()
    gen = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen)
                               / m.in_features ** 0.5)
        for m in bns:
            m.weight.copy_(1.0 + 0.25 * torch.randn(m.num_features, generator=gen))
            m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model(torch.randn(4, 3, 224, 224, generator=gen))  # measured stats
        for m in bns:
            m.running_var.mul_(0.5 + torch.rand(m.num_features, generator=gen))
    model.eval()
    torch.save(model.state_dict(), pth)
    x = torch.randn(1, 3, 224, 224, generator=gen)
    with torch.no_grad():
        want = model.double()(x.double()).float().numpy()
    return x.numpy(), want


def check_onnx(e, name, nnk, x, work):
    """.onnx -> .tflite -> .onnx keeps outputs equal. Skipped (with a
    message) while this nnkit cannot write .onnx files."""
    onnx = os.path.join(work, name + ".onnx")
    r = run([e.nnkit, "convert", nnk, onnx], ok_codes=(0, 1))
    if r.returncode != 0:
        if "not supported" in r.stdout and "onnx" in r.stdout:
            print("%s: SKIP .onnx -> .tflite -> .onnx: this nnkit has no "
                  "ONNX writer yet (the nk_format table has no onnx row)"
                  % name)
            return True
        print("%s: FAIL converting to .onnx" % name)
        return False
    t = os.path.join(work, name + ".from-onnx.tflite")
    back = os.path.join(work, name + ".back.onnx")
    run([e.nnkit, "convert", onnx, t])
    run([e.nnkit, "convert", t, back])
    a = e.nnkit_run(onnx, [x], os.path.join(work, "onnx-a"), ["logits"])[0]
    b = e.nnkit_run(back, [nhwc(x)], os.path.join(work, "onnx-b"),
                    ["logits"])[0]
    return compare("%s .onnx -> .tflite -> .onnx (nnkit)" % name, b, a)


def check_foreign(e, args):
    """A .tflite written by someone else: nnkit's run matches LiteRT's."""
    path = args.foreign
    if not os.path.exists(path):
        sys.exit("tflite_interop.py: %s missing (installed by the "
                 "tflite-npm-setup fixture)" % path)
    work = os.path.join(e.work, "foreign")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r = run([e.nnkit, "info", path, "--json"])
    info = json.loads(r.stdout)
    ins = info["inputs"]
    rng = np.random.RandomState(7)
    xs = []
    for i in ins:
        shape = [d if d > 0 else 1 for d in i["shape"]]
        xs.append((rng.rand(*shape) * 2 - 1).astype(np.float32))
    lr = e.litert(path, xs, os.path.join(work, "litert"))
    names = [n for n, _ in lr]
    nk = e.nnkit_run(path, xs, os.path.join(work, "nnkit"), names)
    ok = True
    for (n, a), b in zip(lr, nk):
        ok &= compare("%s output '%s': nnkit vs LiteRT"
                      % (os.path.basename(path), n), b, a)
    # and through .nnk and back to .tflite, LiteRT still agrees
    rt = os.path.join(work, "rt.nnk")
    rtt = os.path.join(work, "rt.tflite")
    run([e.nnkit, "convert", path, rt])
    run([e.nnkit, "convert", rt, rtt])
    lr2 = e.litert(rtt, xs, os.path.join(work, "litert-rt"))
    for (n, a), (_, b) in zip(lr, lr2):
        ok &= compare("%s output '%s' after .tflite->.nnk->.tflite (LiteRT)"
                      % (os.path.basename(path), n), b, a)
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--gen", help="directory gen_parity.py wrote")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--foreign", help="a .tflite written by someone else")
    ap.add_argument("--npm", required=True, help="npm prefix with @litertjs/core")
    ap.add_argument("--work", required=True)
    ap.add_argument("--full", action="store_true",
                    help="also --keep-nchw-io and --fp16-weights")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    e = Env(args)
    if args.foreign:
        ok = check_foreign(e, args)
    elif args.model:
        ok = check_model(e, args)
    else:
        ap.error("--model or --foreign")
    print("%s: %s" % (args.model or os.path.basename(args.foreign),
                      "PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
