#!/usr/bin/python3
# gen_parity.py — builds torchvision models with seeded random weights and
# writes, per model, the state_dict (.pth), inputs (x1/x8.npy) and the
# PyTorch logits (want1/want8.npy) that check_parity.py compares nnkit against.
"""Generate PyTorch reference data for the nnkit model-parity tests.

Layout written under OUT:
  OUT/<name>.pth              torch.save(model.state_dict())
  OUT/<name>/x1.npy           float32 [1,3,224,224], seeded N(0,1)
  OUT/<name>/x8.npy           float32 [8,3,224,224], seeded N(0,1)
  OUT/<name>/want1.npy        float32 logits of x1
  OUT/<name>/want8.npy        float32 logits of x8
  OUT/<name>/stamp            what produced the files; a model whose stamp
                              matches is not generated again

Weights keep torchvision's initialisation; every BatchNorm additionally gets
random weight/bias and random running statistics, so BN folding in nnkit is
exercised with non-trivial values.  The reference logits are computed in
float64 (then rounded to float32), so they measure nnkit's float32 error
against the exact result rather than against PyTorch's own rounding (except the
models in F32_REFERENCE).
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np
import torch
import torchvision

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "vgg16"]
# References computed in float32: vgg16's float64 forward takes minutes on two
# cores, and with no BatchNorm and 16 layers its float32 error is ~1e-6
# relative, far below the test's 1e-4 tolerance.
F32_REFERENCE = {"vgg16"}


def randomise(model, gen):
    """Random BatchNorm parameters and statistics, O(1)-scaled classifiers.

    BN weight ~ 1 + N(0, 0.25), bias ~ N(0, 0.1).  The running statistics are
    first measured on random inputs (so activations stay well scaled through
    50 layers instead of exploding or vanishing, and the logits really depend
    on the input), then perturbed: mean += N(0, 0.1) * std, var *= U(0.5, 1.5),
    so they are not exactly the batch statistics.  Linear layers get
    N(0, 1/fan_in) weights (torchvision's N(0, 0.01) gives logits ~1e-2).
    """
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen)
                               / m.in_features ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
        for m in bns:
            n = m.num_features
            m.weight.copy_(1.0 + 0.25 * torch.randn(n, generator=gen))
            m.bias.copy_(0.1 * torch.randn(n, generator=gen))
        if bns:
            saved = [m.momentum for m in bns]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None          # cumulative average
            model.train()
            model(torch.randn(4, 3, 224, 224, generator=gen))
            for m, mom in zip(bns, saved):
                m.momentum = mom
        for m in bns:
            n = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(0.1 * std * torch.randn(n, generator=gen))
            m.running_var.mul_(0.5 + torch.rand(n, generator=gen))
    model.eval()


def make_inputs(n, gen):
    """Seeded normal images with per-image structure: white noise plus smooth
    (bilinearly upsampled 7x7) noise plus a per-image, per-channel offset and
    contrast.  I.i.d. noise alone gives near-identical logits after global
    pooling, which would hide input-dependent errors."""
    white = torch.randn(n, 3, 224, 224, generator=gen)
    smooth = torch.nn.functional.interpolate(
        torch.randn(n, 3, 7, 7, generator=gen), size=(224, 224),
        mode="bilinear", align_corners=False)
    offset = 0.5 * torch.randn(n, 3, 1, 1, generator=gen)
    contrast = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return (contrast * (0.5 * white + smooth) + offset).float().contiguous()


def build(name, seed):
    torch.manual_seed(seed)
    ctor = getattr(torchvision.models, name)
    model = ctor(weights=None)
    gen = torch.Generator().manual_seed(seed + 1)
    randomise(model, gen)
    return model


def save_npy(path, arr):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, path)


def stamp_text(name, seed):
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    return "%s seed=%d torch=%s torchvision=%s script=%s\n" % (
        name, seed, torch.__version__, torchvision.__version__, h.hexdigest()[:16])


def generate(name, out, seed, force):
    mdir = os.path.join(out, name)
    os.makedirs(mdir, exist_ok=True)
    stamp_path = os.path.join(mdir, "stamp")
    stamp = stamp_text(name, seed)
    files = [os.path.join(out, name + ".pth")] + [
        os.path.join(mdir, f) for f in ("x1.npy", "x8.npy", "want1.npy", "want8.npy")]
    if not force and all(os.path.exists(f) for f in files) and os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read() == stamp:
                print("%-20s up to date" % name)
                return
    t0 = time.time()
    model = build(name, seed)
    pth = os.path.join(out, name + ".pth")
    torch.save(model.state_dict(), pth + ".tmp")
    os.replace(pth + ".tmp", pth)

    g = torch.Generator().manual_seed(seed + 2)
    x1 = make_inputs(1, g)
    x8 = make_inputs(8, g)
    f64 = name not in F32_REFERENCE
    ref_model = model.double() if f64 else model
    info = []
    with torch.no_grad():
        for tag, x in (("1", x1), ("8", x8)):
            want = ref_model(x.double() if f64 else x).float()
            save_npy(os.path.join(mdir, "x%s.npy" % tag), x.numpy())
            save_npy(os.path.join(mdir, "want%s.npy" % tag), want.numpy())
            info.append("max|want%s|=%.4g" % (tag, want.abs().max().item()))
            if tag == "8":
                # The logits must depend on the input, or the test is blind.
                spread = (want.std(dim=0).max() / want.abs().max()).item()
                info.append("spread8=%.3g" % spread)
                if spread < 0.05:
                    sys.exit("gen_parity.py: %s: logits barely depend on the "
                             "input (spread %.3g < 0.05); fix the inputs or "
                             "the weight randomisation" % (name, spread))
        if f64:
            # PyTorch's own float32 error against the float64 reference, for
            # scale when reading nnkit's error (batch 1; cheap).
            ref = torch.from_numpy(np.load(os.path.join(mdir, "want1.npy")))
            got32 = model.float()(x1)
            info.append("torch-f32 err1=%.3g" % (got32 - ref).abs().max().item())
    with open(stamp_path + ".tmp", "w") as f:
        f.write(stamp)
    os.replace(stamp_path + ".tmp", stamp_path)
    print("%-20s %s  (%.1fs)" % (name, "  ".join(info), time.time() - t0))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (default: torch's choice)")
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    ap.add_argument("models", nargs="*", default=MODELS,
                    help="models to generate (default: %s)" % " ".join(MODELS))
    args = ap.parse_args()
    for m in args.models:
        if m not in MODELS:
            ap.error("unknown model '%s' (expected one of: %s)" % (m, ", ".join(MODELS)))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    for i, m in enumerate(args.models):
        generate(m, args.out, args.seed + 1000 * MODELS.index(m), args.force)


if __name__ == "__main__":
    main()
