"""grad_parity.py — gradient parity of nnkit's training with PyTorch 1.13.

For resnet18, mobilenet_v2 and mobilenet_v3_small (torchvision, seeded
init, 10 classes, saved as a .pth that nnkit's zoo model loads strictly):
one SGD step (momentum 0.9, weight decay 1e-4, lr 0.01) on one fixed batch
of 4 x 3 x 64 x 64 in TRAIN mode (BatchNorm batch statistics and running
statistics update; Dropout probabilities set to 0 on both sides because two
RNGs cannot agree), then the forward pass of a second step.
`test-backward --grad-parity` (nnkit) and PyTorch (float32) must agree on
  - the loss of step 1 and of step 2 (the latter checks the update),
  - every parameter gradient of step 1,
  - every parameter and BatchNorm running statistic after step 1.
The SGD momentum buffer beyond the first step is checked against PyTorch
by test-backward's unit tests.

Relative error of a tensor = max|nnkit - torch| / max(max|torch|, 1e-3 * S),
where S is the largest max|torch| over all tensors of the same kind
(gradients, or parameters and statistics) of the model; every tensor must
be below 1e-4. The floor makes mathematically-zero gradients — the bias of
a BatchNorm followed by a 1x1 conv and another train-mode BatchNorm in
MobileNet v2, whose mean subtraction cancels it exactly — be judged on the
model's gradient scale instead of on float32 rounding noise over ~0.

Why 64 x 64 and not 224: the IR allows planning these networks (which end
in a global pool) at any input size, and at 224 x 224 millions of
pre-activations make it near-certain that some lie within float32 rounding
of a ReLU kink, where two float32 implementations take different branches
and a gradient changes by a whole term (PyTorch float32 itself then differs
from PyTorch float64 by up to 1e-2 on resnet18). NK_PARITY_SEED picks
another batch.

usage: grad_parity.py TEST_BACKWARD_BINARY [MODEL ...]
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision.models as tvm
from torch import nn

MODELS = ["resnet18", "mobilenet_v2", "mobilenet_v3_small"]
BATCH, SIZE, CLASSES = 4, 64, 10
LR, MOMENTUM, WD = 0.01, 0.9, 1e-4
TOL = 1e-4


def make_model(arch, dtype):
    torch.manual_seed(0)
    model = getattr(tvm, arch)(num_classes=CLASSES)
    sd = model.state_dict()
    model = model.to(dtype)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    model.train()
    return model, sd


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=g)
    labels = torch.randint(0, CLASSES, (BATCH,), generator=g)
    return x, labels


def torch_run(arch, seed, dtype, workdir=None):
    model, sd = make_model(arch, dtype)
    x, labels = batch(seed)
    if workdir:
        torch.save(sd, os.path.join(workdir, "model.pth"))
        np.save(os.path.join(workdir, "input.npy"), x.numpy())
        np.save(os.path.join(workdir, "labels.npy"),
                labels.numpy().astype(np.int64))
    x = x.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                          weight_decay=WD)
    loss_fn = nn.CrossEntropyLoss()
    ref = {"loss": [], "grad": {}, "param": {}}
    for step in range(2):
        opt.zero_grad()
        loss = loss_fn(model(x), labels)
        loss.backward()
        ref["loss"].append(loss.item())
        if step == 1:
            break
        for name, p in model.named_parameters():
            ref["grad"][name] = p.grad.detach().double().numpy().copy()
        opt.step()
        for name, t in model.state_dict().items():
            if t.dtype == dtype:
                ref["param"][name] = t.detach().double().numpy().copy()
    return ref


def errors(got, ref):
    """Relative error of every tensor (see the module comment)."""
    scale = max(float(np.max(np.abs(v))) for v in ref.values())
    out = {}
    for name, b in ref.items():
        a = got.get(name)
        if a is None or a.shape != b.shape:
            out[name] = float("inf")
            continue
        den = max(float(np.max(np.abs(b))), 1e-3 * scale, 1e-30)
        out[name] = float(np.max(np.abs(a.astype(np.float64) - b))) / den
    return out


def check(arch, binary):
    t0 = time.time()
    seed = int(os.environ.get("NK_PARITY_SEED", "1"))
    with tempfile.TemporaryDirectory(
            dir=os.environ.get("NNKIT_TEST_TMP")) as workdir:
        r32 = torch_run(arch, seed, torch.float32, workdir)
        t1 = time.time()
        out = os.path.join(workdir, "out")
        cmd = [binary, "--grad-parity", arch, str(CLASSES),
               os.path.join(workdir, "model.pth"),
               os.path.join(workdir, "input.npy"),
               os.path.join(workdir, "labels.npy"), out,
               repr(LR), repr(MOMENTUM), repr(WD)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        t2 = time.time()
        if r.returncode != 0:
            print(f"FAIL {arch}: {' '.join(cmd)} exited {r.returncode}\n"
                  f"{r.stdout}{r.stderr}")
            return False
        got = {"grad": {}, "param": {}}
        for kind in got:
            for name in r32[kind]:
                path = os.path.join(out, kind, name + ".npy")
                if os.path.exists(path):
                    got[kind][name] = np.load(path)
        fails = []
        summary = []
        for step in (1, 2):
            a = float(np.load(os.path.join(out, f"loss{step}.npy"))[0])
            b = r32["loss"][step - 1]
            e = abs(a - b) / abs(b)
            summary.append(f"loss{step} {e:.2g}")
            if not e < TOL:
                fails.append(f"loss{step}: nnkit {a:.8g}, reference {b:.8g}")
        for kind in ("grad", "param"):
            en = errors(got[kind], r32[kind])
            worst = max(en, key=en.get)
            summary.append(f"{len(en)} {kind}s {en[worst]:.2g} ({worst})")
            fails += [f"{kind} {n}: relative error {e:.3g}"
                      for n, e in en.items() if not e < TOL]
        print(f"{'FAIL' if fails else 'ok  '} {arch} (batch seed {seed}): "
              f"worst relative error: {', '.join(summary)}; torch "
              f"{t1 - t0:.1f}s, nnkit {t2 - t1:.1f}s")
        for f in fails[:20]:
            print("     " + f)
        return not fails


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    torch.set_num_threads(2)
    binary = sys.argv[1]
    models = sys.argv[2:] or MODELS
    ok = all([check(m, binary) for m in models])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
