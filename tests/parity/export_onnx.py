#!/usr/bin/env python3
"""export_onnx.py — exporter parity: torchvision models with seeded
parameters (and non-trivial BatchNorm statistics) exported by
torch.onnx.export at opsets 11, 13 and 17 with a dynamic batch axis; nnkit
runs each file (`nnkit run MODEL --input x.npy --output-dir D`) at batch 1
and 8 and must match torch's logits within the foundation's tolerance:
max abs diff <= max(1e-4 * max|logits|, 1e-4).

usage: export_onnx.py NNKIT_BIN WORKDIR [ARCH:OPSET ...]
       (default: resnet18 and mobilenet_v3_small at 11, 13, 17; the other
       zoo families at 13)
"""
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torchvision.models as tvm

DEFAULT = ["resnet18:11", "resnet18:13", "resnet18:17",
           "mobilenet_v3_small:11", "mobilenet_v3_small:13", "mobilenet_v3_small:17",
           "mobilenet_v2:13", "mobilenet_v3_large:13", "resnet50:13", "vgg11_bn:13"]


def seeded_model(arch, seed):
    """A torchvision model with seeded weights and BatchNorm statistics
    that are not the identity (fresh models have mean 0, var 1)."""
    torch.manual_seed(seed)
    m = getattr(tvm, arch)(weights=None)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Linear):
                # torch's default init, so logits are O(1) and the relative
                # tolerance means something (torchvision's N(0, 0.01) heads
                # give logits near 0)
                mod.reset_parameters()
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(c, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return m.eval()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    nnkit, work = sys.argv[1], sys.argv[2]
    cases = sys.argv[3:] or DEFAULT
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(2)
    failures = 0
    models = {}
    for case in cases:
        arch, opset = case.split(":")
        opset = int(opset)
        if arch not in models:
            models[arch] = seeded_model(arch, 20240601)
        m = models[arch]
        path = os.path.join(work, "%s-op%d.onnx" % (arch, opset))
        t0 = time.time()
        torch.onnx.export(m, torch.randn(1, 3, 224, 224), path, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
        for batch in (1, 8):
            g = torch.Generator().manual_seed(batch)
            x = torch.randn(batch, 3, 224, 224, generator=g)
            with torch.no_grad():
                ref = m(x).numpy()
            xp = os.path.join(work, "%s-b%d.x.npy" % (arch, batch))
            np.save(xp, x.numpy())
            out = os.path.join(work, "%s-op%d-b%d" % (arch, opset, batch))
            r = subprocess.run([nnkit, "run", path, "--input", xp, "--output-dir", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("FAIL %-20s opset %2d batch %d: nnkit run exited %d: %s"
                      % (arch, opset, batch, r.returncode, r.stderr.strip()))
                failures += 1
                continue
            got = np.load(os.path.join(out, "logits.npy"))
            if got.shape != ref.shape:
                print("FAIL %-20s opset %2d batch %d: shape %s, torch %s"
                      % (arch, opset, batch, got.shape, ref.shape))
                failures += 1
                continue
            diff = float(np.abs(got.astype(np.float64) - ref).max())
            tol = max(1e-4 * float(np.abs(ref).max()), 1e-4)
            ok = diff <= tol
            failures += not ok
            print("%s %-20s opset %2d batch %d: max abs diff %.3g (tol %.3g)  %.1fs"
                  % ("ok  " if ok else "FAIL", arch, opset, batch, diff, tol, time.time() - t0))
        os.unlink(path)
    print("%d cases, %d failed" % (len(cases) * 2, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
