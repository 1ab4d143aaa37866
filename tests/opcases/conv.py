#!/usr/bin/python3
# conv.py — op-test cases for Conv, BatchNormalization, MatMul, Gemm and the
# pools: random inputs (seeded) and PyTorch reference outputs, written as
# OUTDIR/<case>/{case.txt, in*.npy, out*.npy} for tests/test-ops.c.
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = sys.argv[1]
torch.manual_seed(1234)
torch.set_default_dtype(torch.float32)


def rnd(*shape, lo=None):
    t = torch.randn(*shape)
    if lo is not None:
        t = t.abs() + lo
    return t


def emit(name, op, inputs, outputs, attrs=(), const=(), omit=(), train=0,
         tol=1e-4, act=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    lines = ["op " + op]
    for a in attrs:
        an, kind, v = a
        if kind in ("ints", "floats"):
            lines.append("attr %s %s %s" % (an, kind,
                                            " ".join(str(x) for x in v)))
        else:
            lines.append("attr %s %s %s" % (an, kind, v))
    lines.append("inputs %d" % len(inputs))
    for i in omit:
        lines.append("omit %d" % i)
    if const:
        lines.append("const " + " ".join(str(i) for i in const))
    lines.append("outputs %d" % len(outputs))
    lines.append("train %d" % train)
    lines.append("tol %g" % tol)
    if act:
        a = list(act) + [0.0] * (3 - len(act))
        lines.append("act %s %r %r" % (a[0], float(a[1]), float(a[2])))
    with open(os.path.join(d, "case.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for i, t in enumerate(inputs):
        if i in omit:
            continue
        np.save(os.path.join(d, "in%d.npy" % i),
                np.ascontiguousarray(t.detach().numpy()))
    for i, t in enumerate(outputs):
        np.save(os.path.join(d, "out%d.npy" % i),
                np.ascontiguousarray(t.detach().numpy()))


# ---- Conv -----------------------------------------------------------------

def conv(name, n, c, h, w, m, k, stride=1, pads=(0, 0, 0, 0), dil=1,
         group=1, bias=True, act=None, auto_pad=None, tol=1e-4):
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dil, dil) if isinstance(dil, int) else dil
    x = rnd(n, c, h, w)
    wt = rnd(m, c // group, kh, kw) * 0.3
    b = rnd(m) if bias else None
    attrs = [("kernel_shape", "ints", [kh, kw]), ("strides", "ints", [sh, sw]),
             ("dilations", "ints", [dh, dw]), ("group", "int", group)]
    t, l, bo, r = pads
    if auto_pad == "VALID":
        attrs.append(("auto_pad", "string", auto_pad))
        t = l = bo = r = 0
    elif auto_pad:
        attrs.append(("auto_pad", "string", auto_pad))
        # SAME_*: output ceil(in / stride), padding split as ONNX says
        def same(i, kk, s, dd):
            o = (i + s - 1) // s
            tot = max(0, (o - 1) * s + (kk - 1) * dd + 1 - i)
            small = tot // 2
            return (small, tot - small) if auto_pad == "SAME_UPPER" \
                else (tot - small, small)
        t, bo = same(h, kh, sh, dh)
        l, r = same(w, kw, sw, dw)
    else:
        attrs.append(("pads", "ints", [t, l, bo, r]))
    xp = F.pad(x, (l, r, t, bo))
    y = F.conv2d(xp, wt, b, stride=(sh, sw), dilation=(dh, dw), groups=group)
    if act and act[0] == "relu":
        y = F.relu(y)
    elif act and act[0] == "clip":
        y = torch.clamp(y, act[1], act[2])
    ins = [x, wt] + ([b] if bias else [])
    emit(name, "Conv", ins, [y], attrs, const=list(range(1, len(ins))),
         tol=tol, act=act)


conv("conv_basic", 2, 3, 9, 9, 4, 3, pads=(1, 1, 1, 1))
conv("conv_nobias_stride2", 1, 4, 11, 10, 6, 3, stride=2, bias=False)
conv("conv_groups", 2, 6, 8, 8, 9, 3, pads=(1, 1, 1, 1), group=3)
conv("conv_groups_nobias", 1, 8, 7, 9, 4, (3, 1), stride=(1, 2), group=2,
     bias=False)
conv("conv_depthwise", 2, 8, 10, 10, 8, 3, stride=2, pads=(1, 1, 1, 1),
     group=8)
conv("conv_depthwise_dil", 1, 5, 12, 11, 5, 3, pads=(2, 2, 2, 2), dil=2,
     group=5)
conv("conv_depthwise_asym", 1, 4, 9, 8, 4, (3, 5), stride=(2, 1),
     pads=(0, 2, 1, 1), group=4, bias=False)
conv("conv_depthwise_relu6", 1, 6, 8, 8, 6, 3, pads=(1, 1, 1, 1), group=6,
     act=("clip", 0.0, 6.0))
conv("conv_asym_pads", 1, 3, 9, 8, 5, 3, pads=(1, 0, 2, 1))
conv("conv_dilation", 1, 3, 13, 14, 4, 3, pads=(2, 3, 2, 3), dil=(2, 3))
conv("conv_1x1", 2, 16, 7, 7, 8, 1)
conv("conv_1x1_nobias", 1, 12, 5, 6, 20, 1, bias=False)
conv("conv_1x1_stride2", 1, 8, 9, 9, 4, 1, stride=2)
conv("conv_5x5", 1, 3, 32, 32, 16, 5, pads=(2, 2, 2, 2))
conv("conv_wide_k", 1, 64, 14, 14, 32, 3, pads=(1, 1, 1, 1), tol=2e-4)
conv("conv_relu", 2, 4, 8, 8, 5, 3, pads=(1, 1, 1, 1), act=("relu",))
conv("conv_same_upper", 1, 3, 10, 9, 4, 3, stride=2, auto_pad="SAME_UPPER")
conv("conv_same_lower", 1, 3, 10, 9, 4, 4, stride=1, auto_pad="SAME_LOWER")
conv("conv_valid", 1, 2, 7, 7, 3, 3, stride=2, auto_pad="VALID")

# ---- BatchNormalization --------------------------------------------------

def bn(name, shape, train=0, eps=1e-5, momentum=None):
    c = shape[1]
    x = rnd(*shape) * 2 + 0.5
    sc, b, mean, var = rnd(c), rnd(c), rnd(c), rnd(c, lo=0.5)
    y = F.batch_norm(x, mean.clone(), var.clone(), sc, b,
                     training=bool(train), momentum=0.1, eps=eps)
    attrs = [("epsilon", "float", repr(eps))]
    if momentum is not None:
        attrs.append(("momentum", "float", repr(momentum)))
    emit(name, "BatchNormalization", [x, sc, b, mean, var], [y], attrs,
         const=[1, 2, 3, 4], train=train)


bn("bn_eval", (2, 4, 5, 5))
bn("bn_eval_eps", (3, 6, 4, 7), eps=1e-3)
bn("bn_eval_2d", (5, 6))
bn("bn_train", (4, 3, 6, 5), train=1, momentum=0.9)
bn("bn_train_2d", (8, 5), train=1)

# ---- MatMul / Gemm -------------------------------------------------------

def matmul(name, sa, sb, const_b=False, tol=1e-4):
    a, b = rnd(*sa), rnd(*sb)
    emit(name, "MatMul", [a, b], [torch.matmul(a, b)],
         const=[1] if const_b else [], tol=tol)


matmul("matmul_2d", (5, 7), (7, 3))
matmul("matmul_batched", (2, 3, 5, 7), (2, 3, 7, 4))
matmul("matmul_bcast", (2, 1, 5, 7), (3, 7, 4))
matmul("matmul_bcast_2d_b", (3, 5, 9), (9, 6), const_b=True)
matmul("matmul_1d_a", (7,), (2, 7, 3))
matmul("matmul_1d_b", (4, 7), (7,))
matmul("matmul_big", (1, 67, 300), (300, 130), const_b=True, tol=2e-4)


def gemm(name, m, k, n, ta=0, tb=0, alpha=1.0, beta=1.0, cshape=None,
         omit_c=False, act=None, tol=1e-4):
    a = rnd(k, m) if ta else rnd(m, k)
    b = rnd(n, k) if tb else rnd(k, n)
    y = alpha * torch.matmul(a.t() if ta else a, b.t() if tb else b)
    ins = [a, b]
    c = None
    if cshape is not None:
        c = rnd(*cshape)
        y = y + beta * c
        ins.append(c)
    elif omit_c:
        ins.append(None)
    if act and act[0] == "relu":
        y = F.relu(y)
    attrs = [("transA", "int", ta), ("transB", "int", tb),
             ("alpha", "float", repr(alpha)), ("beta", "float", repr(beta))]
    emit(name, "Gemm", ins, [y], attrs, const=[1, 2] if c is not None else [1],
         omit=[2] if omit_c else [], act=act, tol=tol)


gemm("gemm_basic", 4, 6, 5, cshape=(5,))
gemm("gemm_transb_c1n", 3, 8, 10, tb=1, alpha=0.5, beta=2.0, cshape=(1, 10))
gemm("gemm_transa_cmn", 8, 3, 10, ta=1, beta=0.3, cshape=(8, 10))
gemm("gemm_both_trans", 5, 9, 7, ta=1, tb=1, alpha=1.5, cshape=(5, 1))
gemm("gemm_no_c", 6, 5, 4)
gemm("gemm_omit_c", 6, 5, 9, tb=1, omit_c=True)
gemm("gemm_fc_relu", 2, 300, 100, tb=1, cshape=(100,), act=("relu",),
     tol=2e-4)

# ---- Pools ---------------------------------------------------------------

def pool(name, op, shape, k, stride=1, pads=(0, 0, 0, 0), ceil=0,
         include=0, dil=1):
    x = rnd(*shape)
    t, l, b, r = pads
    attrs = [("kernel_shape", "ints", [k, k]), ("strides", "ints",
                                                [stride, stride]),
             ("pads", "ints", [t, l, b, r]), ("ceil_mode", "int", ceil)]
    if op == "MaxPool":
        attrs.append(("dilations", "ints", [dil, dil]))
        if t == b and l == r and t <= k // 2 and l <= k // 2:
            y = F.max_pool2d(x, k, stride, (t, l), dilation=dil,
                             ceil_mode=bool(ceil))
        else:
            xp = F.pad(x, (l, r, t, b), value=float("-inf"))
            y = F.max_pool2d(xp, k, stride, 0, dilation=dil,
                             ceil_mode=bool(ceil))
    else:
        attrs.append(("count_include_pad", "int", include))
        y = F.avg_pool2d(x, k, stride, (t, l), ceil_mode=bool(ceil),
                         count_include_pad=bool(include))
    emit(name, op, [x], [y], attrs)


pool("maxpool_basic", "MaxPool", (2, 3, 11, 11), 3, 2, (1, 1, 1, 1))
pool("maxpool_ceil", "MaxPool", (1, 2, 10, 10), 3, 2, ceil=1)
pool("maxpool_ceil_pad", "MaxPool", (1, 2, 12, 9), 3, 2, (1, 1, 1, 1), ceil=1)
pool("maxpool_dil", "MaxPool", (1, 3, 9, 9), 2, 1, dil=2)
pool("maxpool_asym", "MaxPool", (1, 2, 7, 8), 2, 2, (0, 1, 1, 0))
pool("maxpool_2x2", "MaxPool", (2, 4, 8, 8), 2, 2)
pool("avgpool_basic", "AveragePool", (2, 3, 8, 8), 2, 2)
pool("avgpool_pad_include", "AveragePool", (2, 3, 9, 9), 3, 2, (1, 1, 1, 1),
     include=1)
pool("avgpool_pad_exclude", "AveragePool", (2, 3, 9, 9), 3, 2, (1, 1, 1, 1),
     include=0)
pool("avgpool_ceil_include", "AveragePool", (1, 2, 10, 11), 3, 2,
     (1, 1, 1, 1), ceil=1, include=1)
pool("avgpool_ceil_exclude", "AveragePool", (1, 2, 10, 11), 3, 2,
     (1, 1, 1, 1), ceil=1, include=0)
pool("avgpool_ceil_nopad", "AveragePool", (1, 2, 10, 10), 3, 2, ceil=1)

x = rnd(2, 5, 7, 6)
emit("globalavgpool", "GlobalAveragePool", [x],
     [x.mean(dim=(2, 3), keepdim=True)])
x = rnd(3, 4, 1, 1)
emit("globalavgpool_1x1", "GlobalAveragePool", [x], [x.clone()])
