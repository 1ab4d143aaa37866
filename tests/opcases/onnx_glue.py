#!/usr/bin/python3
# onnx_glue.py — op-test cases for the exporters' glue ops (Shape, Gather,
# Unsqueeze, Squeeze, Slice, Cast, ConstantOfShape, ReduceMean, and Concat
# / Reshape on i64 shape values), with numpy references, written as
# OUTDIR/<case>/{case.txt, in*.npy, out*.npy} for tests/test-ops.c.
# Outputs keep their real dtype (Shape is i64, Cast to f16 is f16, ...).
# Also the pools beyond 2-D and MaxPool's Indices output (PyTorch refs).
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = sys.argv[1]
RNG = np.random.default_rng(20240611)
I64_MAX = np.iinfo(np.int64).max
I64_MIN = np.iinfo(np.int64).min


def randn(*shape):
    return (RNG.standard_normal(shape) * 3.0).astype(np.float32)


def i64(*v):
    return np.array(v, dtype=np.int64)


def emit(name, op, inputs, outputs, attrs=(), const=(), tol=1e-6):
    """inputs: arrays (None = omitted); const: indices of inputs that are
    initializers (parameter inputs such as axes must be)."""
    d = os.path.join(OUT, "glue_" + name)
    os.makedirs(d, exist_ok=True)
    lines = ["op " + op]
    for an, kind, v in attrs:
        if kind in ("ints", "floats"):
            lines.append("attr %s %s %s" % (an, kind,
                                            " ".join(str(x) for x in v)))
        else:
            lines.append("attr %s %s %s" % (an, kind, v))
    lines.append("inputs %d" % len(inputs))
    for i, a in enumerate(inputs):
        if a is None:
            lines.append("omit %d" % i)
    if const:
        lines.append("const " + " ".join(str(i) for i in const))
    lines.append("outputs %d" % len(outputs))
    lines.append("train 0")
    lines.append("tol %g" % tol)
    with open(os.path.join(d, "case.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for i, a in enumerate(inputs):
        if a is not None:
            np.save(os.path.join(d, "in%d.npy" % i), np.array(a, order="C"))
    for i, a in enumerate(outputs):
        np.save(os.path.join(d, "out%d.npy" % i), np.array(a, order="C"))


# ---- Shape -----------------------------------------------------------------

X = randn(2, 3, 4, 5)
emit("shape", "Shape", [X], [i64(*X.shape)])
emit("shape_start_end", "Shape", [X], [i64(3, 4)],
     attrs=[("start", "int", 1), ("end", "int", -1)])
emit("shape_clipped", "Shape", [X], [i64(2, 3, 4, 5)],
     attrs=[("start", "int", -10), ("end", "int", 10)])
emit("shape_empty", "Shape", [X], [np.zeros(0, np.int64)],
     attrs=[("start", "int", 3), ("end", "int", 1)])

# ---- Gather ----------------------------------------------------------------

S = i64(7, 3, 224, 224)
emit("gather_shape_scalar", "Gather", [S, np.array(0, np.int64)],
     [np.array(7, np.int64)], attrs=[("axis", "int", 0)], const=[1])
X = randn(5, 4, 3)
ind = i64(0, -1, 2, 2)
emit("gather_axis0", "Gather", [X, ind], [np.take(X, ind, axis=0)],
     attrs=[("axis", "int", 0)])
ind = np.array([[1, 0], [-1, 3]], np.int64)
emit("gather_axis1_2d", "Gather", [X, ind], [np.take(X, ind, axis=1)],
     attrs=[("axis", "int", 1)])
ind = np.array([2, 0, -2], np.int32)
emit("gather_axis_neg_i32", "Gather", [X, ind], [np.take(X, ind, axis=2)],
     attrs=[("axis", "int", -1)])
ind = np.array(3, np.int64)
emit("gather_scalar_index", "Gather", [X, ind], [np.take(X, 3, axis=1)],
     attrs=[("axis", "int", 1)], const=[1])

# ---- Unsqueeze / Squeeze -------------------------------------------------------

emit("unsqueeze_scalar", "Unsqueeze", [np.array(7, np.int64), i64(0)],
     [i64(7)], const=[1])
X = randn(3, 4)
emit("unsqueeze_two", "Unsqueeze", [X, i64(1, -1)],
     [X.reshape(3, 1, 4, 1)], const=[1])
emit("unsqueeze_unsorted", "Unsqueeze", [X, i64(3, 0)],
     [X.reshape(1, 3, 4, 1)], const=[1])
X = randn(1, 3, 1, 5)
emit("squeeze_axes", "Squeeze", [X, i64(0, -2)], [X.reshape(3, 5)],
     const=[1])
emit("squeeze_all", "Squeeze", [X, None], [X.reshape(3, 5)])

# ---- Concat / Reshape on shape values -----------------------------------------

emit("concat_i64", "Concat", [i64(7), i64(-1)], [i64(7, -1)],
     attrs=[("axis", "int", 0)])
X = randn(2, 16, 2, 2)
emit("reshape_i64_shape", "Reshape", [X, i64(2, -1)], [X.reshape(2, -1)],
     const=[1])

# ---- Slice -------------------------------------------------------------------

X = randn(20, 10, 5)
emit("slice_basic", "Slice", [X, i64(0, 0), i64(3, 10), i64(0, 1), i64(1, 1)],
     [X[0:3, 0:10]], const=[1, 2, 3, 4])
emit("slice_neg_steps", "Slice",
     [X, i64(20, 10, 4), i64(0, 0, 1), i64(0, 1, 2), i64(-1, -3, -2)],
     [X[20:0:-1, 10:0:-3, 4:1:-2]], const=[1, 2, 3, 4])
emit("slice_clamp", "Slice", [X, i64(-100, 1), i64(I64_MAX, 1000)],
     [X[:, 1:]], const=[1, 2])
emit("slice_to_start", "Slice", [X, i64(-1), i64(I64_MIN), i64(1), i64(-1)],
     [X[:, ::-1]], const=[1, 2, 3, 4])
emit("slice_empty", "Slice", [X, i64(1000), i64(1000), i64(1), None],
     [X[:, 1000:1000]], const=[1, 2, 3])
emit("slice_neg_axes", "Slice", [X, i64(1, -4), i64(3, -1), i64(-1, 0)],
     [X[-4:-1, :, 1:3]], const=[1, 2, 3])
emit("slice_shape_tail", "Slice", [i64(7, 3, 224, 224), i64(1), i64(I64_MAX)],
     [i64(3, 224, 224)], const=[1, 2])

# ---- Cast --------------------------------------------------------------------

X = randn(3, 7)
X[0, :4] = [0.0, -0.0, 2.5, -2.5]
emit("cast_f32_i32", "Cast", [X], [np.trunc(X).astype(np.int32)],
     attrs=[("to", "int", 6)])
emit("cast_f32_i64", "Cast", [X], [np.trunc(X).astype(np.int64)],
     attrs=[("to", "int", 7)])
emit("cast_f32_f16", "Cast", [X], [X.astype(np.float16)],
     attrs=[("to", "int", 10)], tol=0)
emit("cast_f32_bool", "Cast", [X], [X != 0], attrs=[("to", "int", 9)])
emit("cast_i64_f32", "Cast", [i64(7, -3, 1 << 40)],
     [np.array([7, -3, 1 << 40], np.float32)], attrs=[("to", "int", 1)])
U = RNG.integers(0, 256, size=(4, 5), dtype=np.uint8)
emit("cast_u8_f32", "Cast", [U], [U.astype(np.float32)],
     attrs=[("to", "int", 1)])
emit("cast_u8_i8", "Cast", [U], [np.clip(U, -128, 127).astype(np.int8)],
     attrs=[("to", "int", 3)])
FA = np.abs(X) * 10
emit("cast_f32_u8", "Cast", [FA], [np.trunc(FA).astype(np.uint8)],
     attrs=[("to", "int", 2)])
H = X.astype(np.float16)
emit("cast_f16_f32", "Cast", [H], [H.astype(np.float32)],
     attrs=[("to", "int", 1)], tol=0)
emit("cast_i64_i32", "Cast", [i64(1, -2, 3)],
     [np.array([1, -2, 3], np.int32)], attrs=[("to", "int", 6)])

# ---- ConstantOfShape -----------------------------------------------------------

emit("constantofshape_zeros", "ConstantOfShape", [i64(2, 3, 4)],
     [np.zeros((2, 3, 4), np.float32)], const=[0])
emit("constantofshape_empty", "ConstantOfShape", [i64(0)],
     [np.zeros((0,), np.float32)], const=[0])

# ---- ReduceMean ----------------------------------------------------------------

X = randn(2, 3, 4, 5)
emit("reducemean_axes_attr", "ReduceMean", [X],
     [X.mean(axis=1, keepdims=True)], attrs=[("axes", "ints", [1])],
     tol=1e-5)
emit("reducemean_no_keepdims", "ReduceMean", [X],
     [X.mean(axis=(-1, 0), keepdims=False)],
     attrs=[("axes", "ints", [-1, 0]), ("keepdims", "int", 0)], tol=1e-5)
emit("reducemean_axes_input", "ReduceMean", [X, i64(2, 3)],
     [X.mean(axis=(2, 3), keepdims=True)], const=[1], tol=1e-5)
emit("reducemean_all", "ReduceMean", [X],
     [X.mean(keepdims=True)], tol=1e-5)
emit("reducemean_noop", "ReduceMean", [X, None], [X],
     attrs=[("noop_with_empty_axes", "int", 1)])

# ---- pools: 1-D, 3-D, Indices --------------------------------------------------

torch.manual_seed(7)
X = torch.randn(2, 3, 11)
emit("maxpool_1d", "MaxPool", [X.numpy()],
     [F.max_pool1d(X, 3, 2, 1).numpy()],
     attrs=[("kernel_shape", "ints", [3]), ("strides", "ints", [2]),
            ("pads", "ints", [1, 1])])
emit("avgpool_1d_ceil", "AveragePool", [X.numpy()],
     [F.avg_pool1d(X, 3, 2, 1, ceil_mode=True,
                   count_include_pad=False).numpy()],
     attrs=[("kernel_shape", "ints", [3]), ("strides", "ints", [2]),
            ("pads", "ints", [1, 1]), ("ceil_mode", "int", 1)], tol=1e-5)
X = torch.randn(1, 2, 6, 7, 5)
emit("maxpool_3d", "MaxPool", [X.numpy()],
     [F.max_pool3d(X, 2, (2, 1, 2), dilation=(1, 2, 1)).numpy()],
     attrs=[("kernel_shape", "ints", [2, 2, 2]),
            ("strides", "ints", [2, 1, 2]), ("dilations", "ints", [1, 2, 1])])
emit("avgpool_3d_pad", "AveragePool", [X.numpy()],
     [F.avg_pool3d(X, 3, 2, 1, count_include_pad=True).numpy()],
     attrs=[("kernel_shape", "ints", [3, 3, 3]),
            ("strides", "ints", [2, 2, 2]),
            ("pads", "ints", [1, 1, 1, 1, 1, 1]),
            ("count_include_pad", "int", 1)], tol=1e-5)
X = torch.randn(2, 3, 7, 6)
y, idx = F.max_pool2d(X, 3, 2, 1, return_indices=True)
plane = 7 * 6
base = (torch.arange(2 * 3).reshape(2, 3, 1, 1) * plane)
emit("maxpool_indices", "MaxPool", [X.numpy()],
     [y.numpy(), (idx + base).numpy()],
     attrs=[("kernel_shape", "ints", [3, 3]), ("strides", "ints", [2, 2]),
            ("pads", "ints", [1, 1, 1, 1])])
col = (idx % 6) * 7 + idx // 6  # column-major position in the plane
emit("maxpool_indices_colmajor", "MaxPool", [X.numpy()],
     [y.numpy(), (col + base).numpy()],
     attrs=[("kernel_shape", "ints", [3, 3]), ("strides", "ints", [2, 2]),
            ("pads", "ints", [1, 1, 1, 1]), ("storage_order", "int", 1)])
U = RNG.integers(0, 256, size=(1, 2, 5, 5), dtype=np.uint8)
emit("maxpool_u8", "MaxPool", [U],
     [F.max_pool2d(torch.from_numpy(U.astype(np.float32)), 2, 1).numpy()
      .astype(np.uint8)],
     attrs=[("kernel_shape", "ints", [2, 2])])

# ---- integer arithmetic (shape values, uint8) --------------------------------------

A = RNG.integers(0, 256, size=(3, 4), dtype=np.uint8)
B = RNG.integers(1, 256, size=(4,), dtype=np.uint8)
emit("add_u8_wraps", "Add", [A, B], [A + B])
emit("div_u8", "Div", [A, B], [A // B])
emit("mul_i64_shape", "Mul", [i64(7, 3), i64(2)], [i64(14, 6)])
emit("sub_i32", "Sub", [np.array([5, -2], np.int32), np.array([7], np.int32)],
     [np.array([-2, -9], np.int32)])
