#!/usr/bin/env python3
"""misc.py - op-test cases for the light ops (activations, element-wise
binary ops with broadcasting, Flatten/Reshape/Transpose/Concat/Pad,
Softmax, Dropout, Identity), with references computed by PyTorch / numpy.

Usage: misc.py OUTDIR  -> OUTDIR/<case>/case.txt, in<i>.npy, out<i>.npy
(the format tests/test-ops.c reads)."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

RNG = np.random.default_rng(20240607)


def randn(*shape, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def n(x):
    return x.detach().numpy().astype(np.float32)


CASES = []


def case(name, op, inputs, outputs, attrs=(), const=(), omit=(),
         train=0, tol=1e-5, act=None):
    """inputs: list of arrays (None for an omitted input)."""
    CASES.append(dict(name=name, op=op, inputs=inputs, outputs=outputs,
                      attrs=list(attrs), const=list(const),
                      omit=[i for i, a in enumerate(inputs) if a is None]
                      + list(omit), train=train, tol=tol, act=act))


def write(outdir, c):
    d = os.path.join(outdir, c["name"])
    os.makedirs(d, exist_ok=True)
    lines = ["op " + c["op"]]
    for name, kind, val in c["attrs"]:
        if kind in ("ints", "floats"):
            lines.append("attr %s %s %s" % (name, kind,
                                            " ".join(repr(v) for v in val)))
        else:
            lines.append("attr %s %s %s" % (name, kind, val))
    lines.append("inputs %d" % len(c["inputs"]))
    for i in sorted(set(c["omit"])):
        lines.append("omit %d" % i)
    if c["const"]:
        lines.append("const " + " ".join(str(i) for i in c["const"]))
    lines.append("outputs %d" % len(c["outputs"]))
    lines.append("train %d" % c["train"])
    lines.append("tol %g" % c["tol"])
    if c["act"]:
        lines.append("act %s %r %r" % c["act"])
    for i, a in enumerate(c["inputs"]):
        if a is None:
            continue
        assert a.dtype in (np.float32, np.int64), (c["name"], a.dtype)
        # C order always: a permuted tensor would otherwise be saved with
        # fortran_order = True
        np.save(os.path.join(d, "in%d.npy" % i), np.ascontiguousarray(a))
    for i, a in enumerate(c["outputs"]):
        a = np.ascontiguousarray(a, dtype=np.float32)
        np.save(os.path.join(d, "out%d.npy" % i), a)
    with open(os.path.join(d, "case.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- activations -------------------------------------------------------

X = randn(2, 5, 7, 9)
case("relu", "Relu", [X], [n(F.relu(t(X)))])
case("sigmoid", "Sigmoid", [X], [n(torch.sigmoid(t(X)))])
case("tanh", "Tanh", [X], [n(torch.tanh(t(X)))])
case("leakyrelu_default", "LeakyRelu", [X], [n(F.leaky_relu(t(X), 0.01))])
case("leakyrelu_alpha", "LeakyRelu", [X], [n(F.leaky_relu(t(X), 0.2))],
     attrs=[("alpha", "float", 0.2)])
# ONNX HardSigmoid: max(0, min(1, alpha*x + beta)); torch's hardsigmoid is
# the alpha = 1/6 special case, so the general one is computed in torch ops
case("hardsigmoid_default", "HardSigmoid", [X],
     [n(torch.clamp(0.2 * t(X) + 0.5, 0.0, 1.0))])
case("hardsigmoid_alpha_beta", "HardSigmoid", [X],
     [n(torch.clamp(0.3 * t(X) + 0.4, 0.0, 1.0))],
     attrs=[("alpha", "float", 0.3), ("beta", "float", 0.4)])
case("hardsigmoid_torch", "HardSigmoid", [X], [n(F.hardsigmoid(t(X)))],
     attrs=[("alpha", "float", 1.0 / 6.0), ("beta", "float", 0.5)])
case("hardswish", "HardSwish", [X], [n(F.hardswish(t(X)))])
case("clip_attrs_relu6", "Clip", [X], [n(F.relu6(t(X)))],
     attrs=[("min", "float", 0.0), ("max", "float", 6.0)])
lo, hi = np.float32(-1.5), np.float32(2.25)
case("clip_inputs", "Clip", [X, np.array(lo), np.array(hi)],
     [n(torch.clamp(t(X), float(lo), float(hi)))], const=[1, 2])
case("clip_only_max", "Clip", [X, None, np.array(hi)],
     [n(torch.clamp(t(X), max=float(hi)))], const=[2])
case("clip_only_min", "Clip", [X, np.array(lo)],
     [n(torch.clamp(t(X), min=float(lo)))], const=[1])
case("clip_no_bounds", "Clip", [X], [X])

# ---- element-wise binary with broadcasting ------------------------------

BIN = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul,
       "Div": torch.div}


def denom(*shape):
    # keep divisors away from zero so the relative tolerance means something
    mag = RNG.uniform(0.5, 2.0, size=shape)
    sign = np.where(RNG.random(size=shape) < 0.5, -1.0, 1.0)
    return (mag * sign).astype(np.float32)


PAIRS = [
    ("equal", (2, 8, 9, 11), (2, 8, 9, 11)),
    ("scalar_b", (2, 8, 9, 11), ()),
    ("one_b", (2, 8, 9, 11), (1,)),
    ("scalar_a", (), (2, 8, 9, 11)),
    ("channel_c11", (2, 8, 9, 11), (8, 1, 1)),
    ("channel_1c11", (2, 8, 9, 11), (1, 8, 1, 1)),
    ("channel_a_side", (1, 8, 1, 1), (2, 8, 9, 11)),
    ("rank_w", (2, 8, 9, 11), (11,)),
    ("rank_hw", (2, 8, 9, 11), (9, 11)),
    ("rank_c1w", (2, 8, 9, 11), (8, 1, 11)),
    ("both_n1h1_1c1w", (2, 1, 9, 1), (1, 8, 1, 11)),
    ("both_col_row", (5, 1), (1, 7)),
    ("both_rank_mismatch", (3, 1, 6), (4, 1)),
    ("matrix_rowvec", (16, 33), (1, 33)),
]
for opname, fn in BIN.items():
    for tag, sa, sb in PAIRS:
        a = randn(*sa)
        b = denom(*sb) if opname == "Div" else randn(*sb)
        case("%s_%s" % (opname.lower(), tag), opname, [a, b],
             [n(fn(t(a), t(b)))], tol=1e-5)

a, b = randn(2, 8, 9, 11), randn(2, 8, 9, 11)
case("add_fused_relu", "Add", [a, b], [n(F.relu(t(a) + t(b)))],
     act=("relu", 0.0, 0.0))
b = randn(8, 1, 1)
case("add_bcast_fused_relu6", "Add", [a, b],
     [n(torch.clamp(t(a) + t(b), 0.0, 6.0))], act=("clip", 0.0, 6.0))

# ---- Flatten / Reshape / Transpose --------------------------------------

X4 = randn(2, 3, 4, 5)
for ax in (0, 1, 2, 3, 4, -1, -3):
    k = ax if ax >= 0 else ax + 4
    outer = int(np.prod(X4.shape[:k]))
    ref = n(torch.flatten(t(X4), 0, k - 1).reshape(outer, -1)
            if k > 0 else t(X4).reshape(1, -1))
    case("flatten_axis_%s" % str(ax).replace("-", "m"), "Flatten", [X4],
         [ref], attrs=[("axis", "int", ax)])
case("flatten_default", "Flatten", [X4], [n(torch.flatten(t(X4), 1))])

RESHAPES = [
    ("copy0_infer", [0, -1]),
    ("infer_first", [-1, 60]),
    ("copy0_mid", [2, 0, 20]),
    ("copy00_infer", [0, 0, -1]),
    ("rank6", [1, 2, 3, 2, 2, 5]),
    ("to_1d", [-1]),
    ("plain", [6, 20]),
]
for tag, shp in RESHAPES:
    tgt = [X4.shape[i] if v == 0 else v for i, v in enumerate(shp)]
    case("reshape_" + tag, "Reshape", [X4, np.array(shp, dtype=np.int64)],
         [n(t(X4).reshape(tgt))], const=[1])
# allowzero=1: a 0 is a real zero-size dim only when the input is empty;
# with a non-empty input it must still equal the input count, so test the
# attribute without any 0 in the shape
case("reshape_allowzero_nozero", "Reshape",
     [X4, np.array([4, -1], dtype=np.int64)],
     [n(t(X4).reshape(4, -1))], const=[1], attrs=[("allowzero", "int", 1)])

for perm in ([0, 2, 3, 1], [0, 3, 1, 2], [3, 2, 1, 0], [1, 0, 2, 3],
             [0, 1, 3, 2], [2, 0, 3, 1]):
    case("transpose_" + "".join(map(str, perm)), "Transpose", [X4],
         [n(t(X4).permute(*perm))], attrs=[("perm", "ints", perm)])
case("transpose_default", "Transpose", [X4], [n(t(X4).permute(3, 2, 1, 0))])
M = randn(37, 53)
case("transpose_2d", "Transpose", [M], [n(t(M).t())],
     attrs=[("perm", "ints", [1, 0])])
X3 = randn(4, 7, 6)
case("transpose_3d_201", "Transpose", [X3], [n(t(X3).permute(2, 0, 1))],
     attrs=[("perm", "ints", [2, 0, 1])])

# ---- Concat --------------------------------------------------------------

BASE = (2, 3, 4, 5)
for axis in (0, 1, 2, 3):
    for k in (2, 3, 4):
        xs = []
        for j in range(k):
            s = list(BASE)
            s[axis] = 1 + (j * 2 + axis) % 4
            xs.append(randn(*s))
        case("concat_axis%d_%din" % (axis, k), "Concat", xs,
             [n(torch.cat([t(x) for x in xs], dim=axis))],
             attrs=[("axis", "int", axis)])
xs = [randn(2, 3, 4, 2), randn(2, 3, 4, 5)]
case("concat_axis_m1", "Concat", xs,
     [n(torch.cat([t(x) for x in xs], dim=-1))], attrs=[("axis", "int", -1)])
xs = [randn(2, 6, 3, 3), randn(2, 2, 3, 3), randn(2, 1, 3, 3)]
case("concat_axis_m3", "Concat", xs,
     [n(torch.cat([t(x) for x in xs], dim=1))], attrs=[("axis", "int", -3)])
xs = [randn(3, 4)]
case("concat_single", "Concat", xs, [xs[0]], attrs=[("axis", "int", 0)])

# ---- Pad -----------------------------------------------------------------

XP = randn(2, 3, 6, 7)


def onnx_pads(p_begin, p_end):
    return np.array(list(p_begin) + list(p_end), dtype=np.int64)


def np_pad(x, pb, pe, mode, value=0.0):
    width = list(zip(pb, pe))
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode])


PADS = [
    ("hw_sym", (0, 0, 1, 1), (0, 0, 1, 1)),
    ("hw_asym", (0, 0, 2, 0), (0, 0, 1, 3)),
    ("all_dims", (1, 2, 0, 3), (0, 1, 2, 1)),
    ("last_only", (0, 0, 0, 4), (0, 0, 0, 2)),
    ("zero", (0, 0, 0, 0), (0, 0, 0, 0)),
]
for tag, pb, pe in PADS:
    pads = onnx_pads(pb, pe)
    case("pad_constant_value_" + tag, "Pad",
         [XP, pads, np.array(np.float32(1.25))],
         [np_pad(XP, pb, pe, "constant", 1.25)], const=[1, 2],
         attrs=[("mode", "string", "constant")])
    case("pad_constant_" + tag, "Pad", [XP, pads],
         [np_pad(XP, pb, pe, "constant")], const=[1])
    if max(pb[:2] + pe[:2]) == 0 or tag == "all_dims":
        # reflect needs pads < dim size; dims 0/1 are 2 and 3 long
        ok = all(p < s for p, s in zip(pb, XP.shape)) and \
            all(p < s for p, s in zip(pe, XP.shape))
        if ok:
            case("pad_reflect_" + tag, "Pad", [XP, pads],
                 [np_pad(XP, pb, pe, "reflect")], const=[1],
                 attrs=[("mode", "string", "reflect")])
    case("pad_edge_" + tag, "Pad", [XP, pads],
         [np_pad(XP, pb, pe, "edge")], const=[1],
         attrs=[("mode", "string", "edge")])
# the same through torch, for reflect / replicate on H and W
pb, pe = (0, 0, 2, 3), (0, 0, 4, 1)
case("pad_reflect_torch", "Pad", [XP, onnx_pads(pb, pe)],
     [n(F.pad(t(XP), (3, 1, 2, 4), mode="reflect"))], const=[1],
     attrs=[("mode", "string", "reflect")])
case("pad_edge_torch", "Pad", [XP, onnx_pads(pb, pe)],
     [n(F.pad(t(XP), (3, 1, 2, 4), mode="replicate"))], const=[1],
     attrs=[("mode", "string", "edge")])
# opset < 11: pads and value are attributes
pb, pe = (0, 1, 1, 0), (0, 0, 2, 2)
case("pad_attr_value", "Pad", [XP], [np_pad(XP, pb, pe, "constant", -2.5)],
     attrs=[("mode", "string", "constant"),
            ("pads", "ints", list(pb) + list(pe)),
            ("value", "float", -2.5)])

# ---- Softmax -------------------------------------------------------------

XS = randn(3, 10, 4, 5, scale=8.0)
case("softmax_axis_m1", "Softmax", [XS], [n(torch.softmax(t(XS), -1))],
     attrs=[("axis", "int", -1)])
case("softmax_default", "Softmax", [XS], [n(torch.softmax(t(XS), -1))])
case("softmax_axis1", "Softmax", [XS], [n(torch.softmax(t(XS), 1))],
     attrs=[("axis", "int", 1)])
XL = randn(4, 1000, scale=30.0)  # large logits: must not overflow
case("softmax_logits", "Softmax", [XL], [n(torch.softmax(t(XL), 1))],
     attrs=[("axis", "int", 1)])

# ---- Dropout (eval) and Identity -----------------------------------------

case("dropout_eval", "Dropout", [X], [X], train=0)
case("dropout_eval_ratio_attr", "Dropout", [X], [X], train=0,
     attrs=[("ratio", "float", 0.3)])
case("dropout_eval_ratio_input", "Dropout",
     [X, np.array(np.float32(0.7))], [X], const=[1], train=0)
ref = F.dropout(t(X), 0.5, training=False)
case("dropout_eval_torch", "Dropout", [X], [n(ref)], train=0)
case("identity", "Identity", [X], [n(torch.nn.Identity()(t(X)))])


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: misc.py OUTDIR\n")
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    names = set()
    for c in CASES:
        assert c["name"] not in names, c["name"]
        names.add(c["name"])
        write(out, c)
    print("misc.py: wrote %d cases to %s" % (len(CASES), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
