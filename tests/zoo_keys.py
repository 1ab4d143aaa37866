#!/usr/bin/env python3
"""zoo_keys.py — compare every zoo architecture with its PyTorch reference:
the state_dict keys (same set, same order), shapes and dtypes exactly, and
the initialisation's per-tensor mean/std statistically (torchvision's fresh
init versus nnkit's seeded init).

usage: zoo_keys.py TEST_ZOO_BINARY [ARCH ...]  (the binary's `--dump ARCH [CLASSES]`)

LeNet-5 and MobileNet v1 have no torchvision twin: their reference modules
are defined below exactly as docs/zoo.md describes them.
"""
import math
import subprocess
import sys

import torch
from torch import nn
import torchvision.models as tvm
from torchvision.ops.misc import Conv2dNormActivation

TORCH_DTYPES = {torch.float32: "f32", torch.int64: "i64"}


class LeNet5(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)


def _div8(v):
    return tvm._utils._make_divisible(v, 8)


class MobileNetV1(nn.Module):
    BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + \
        [(512, 1)] * 5 + [(1024, 2), (1024, 1)]

    def __init__(self, num_classes=1000, width_mult=1.0):
        super().__init__()
        cin = _div8(32 * width_mult)
        layers = [Conv2dNormActivation(3, cin, 3, stride=2, activation_layer=nn.ReLU6)]
        for c, s in self.BLOCKS:
            cout = _div8(c * width_mult)
            layers.append(nn.Sequential(
                Conv2dNormActivation(cin, cin, 3, stride=s, groups=cin, activation_layer=nn.ReLU6),
                Conv2dNormActivation(cin, cout, 1, activation_layer=nn.ReLU6)))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.001), nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


def reference(arch, classes):
    torch.manual_seed(0)
    if arch == "lenet5":
        model = LeNet5(classes)
    elif arch == "mobilenet_v1":
        model = MobileNetV1(classes)
    else:
        model = getattr(tvm, arch)(num_classes=classes)
    rows = []
    for k, v in model.state_dict().items():
        x = v.double()
        std = x.std(unbiased=False).item() if v.numel() else 0.0
        rows.append((k, TORCH_DTYPES[v.dtype], tuple(v.shape), x.mean().item(), std, v.numel()))
    return rows


def nnkit_dump(binary, arch, classes):
    out = subprocess.run([binary, "--dump", arch, str(classes)], check=True,
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        left, right = line.split("|")
        f = left.split()
        mean, std = (float(t) for t in right.split())
        rows.append((f[0], f[1], tuple(int(d) for d in f[2:]), mean, std))
    return rows


def compare(binary, arch, classes):
    errors = []
    ref = reference(arch, classes)
    got = nnkit_dump(binary, arch, classes)
    rk = [r[0] for r in ref]
    gk = [g[0] for g in got]
    missing = sorted(set(rk) - set(gk))
    extra = sorted(set(gk) - set(rk))
    if missing:
        errors.append(f"missing keys ({len(missing)}): {missing[:8]}")
    if extra:
        errors.append(f"unexpected keys ({len(extra)}): {extra[:8]}")
    if not missing and not extra and rk != gk:
        i = next(i for i, (a, b) in enumerate(zip(rk, gk)) if a != b)
        errors.append(f"key order differs at {i}: torchvision {rk[i]}, nnkit {gk[i]}")
    gmap = {g[0]: g for g in got}
    for k, dt, shape, mean, std, n in ref:
        if k not in gmap:
            continue
        _, gdt, gshape, gmean, gstd = gmap[k]
        if (gdt, gshape) != (dt, shape):
            errors.append(f"{k}: nnkit {gdt}{list(gshape)}, torchvision {dt}{list(shape)}")
            continue
        if dt != "f32":
            if gmean != mean:
                errors.append(f"{k}: value {gmean}, torchvision {mean}")
            continue
        if std == 0.0:
            # constant init (BN weight 1 / bias 0, zero biases, running stats)
            if gstd > 1e-6 or abs(gmean - mean) > 1e-6:
                errors.append(f"{k}: mean {gmean} std {gstd}, torchvision constant {mean}")
        elif n >= 256:
            # sample std has relative s.d. ~ 1/sqrt(2n); allow 6 of those
            tol = 6.0 / math.sqrt(2.0 * n)
            if abs(gstd - std) > tol * std:
                errors.append(f"{k}: init std {gstd:.6g}, torchvision {std:.6g} (tol {tol:.2%})")
            if abs(gmean - mean) > 8.0 * std / math.sqrt(n):
                errors.append(f"{k}: init mean {gmean:.6g}, torchvision {mean:.6g}")
    return errors


ARCHS = ["lenet5", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
         "vgg16_bn", "vgg19_bn", "resnet18", "resnet34", "resnet50", "resnet101",
         "resnet152", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small",
         "mobilenet_v3_large"]


def main():
    binary = sys.argv[1]
    only = sys.argv[2:]
    cases = [(a, 10 if a == "lenet5" else 1000) for a in ARCHS]
    cases += [("resnet18", 10), ("resnet50", 7), ("mobilenet_v2", 10),
              ("mobilenet_v3_small", 10), ("vgg11_bn", 10)]
    if only:
        cases = [c for c in cases if c[0] in only]
    failed = 0
    for arch, classes in cases:
        errors = compare(binary, arch, classes)
        status = "ok  " if not errors else "FAIL"
        print(f"{status} {arch} classes={classes}", flush=True)
        for e in errors[:20]:
            print(f"     {e}")
        failed += bool(errors)
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
