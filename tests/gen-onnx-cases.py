#!/usr/bin/env python3
"""gen-onnx-cases.py OUT — ONNX files for tests/test-onnx.c, written with
the `onnx` package's helper API, and numpy references for their outputs.

OUT/tensors/   TensorProto files in every storage form (+ expected .npy)
OUT/storage/   models whose initializer W uses one storage form (+ W.npy)
OUT/ops/       opset variants (Clip, Softmax, Pad, Squeeze, Unsqueeze,
               Reshape, BatchNorm, Dropout, Gemm, ReduceMean, ...): each
               NAME.onnx with NAME.x.npy and NAME.y.npy (numpy reference);
               list.txt: "NAME BATCH" per line
OUT/external/  external data: good ones and ones that must be refused
OUT/bad/       malformed or unsupported models; list.txt:
               "FILE|STATUS|substring the error message must contain"
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
RNG = np.random.RandomState(1234)
F = TensorProto.FLOAT


def mkdir(*p):
    d = os.path.join(OUT, *p)
    os.makedirs(d, exist_ok=True)
    return d


def model(nodes, inputs, outputs, inits=(), opset=13, ir=None, check=True,
          value_info=()):
    ir_v = ir if ir is not None else (
        3 if opset <= 8 else 4 if opset == 9 else 5 if opset == 10 else
        6 if opset == 11 else 7 if opset <= 14 else 8)
    inputs = list(inputs)
    if ir_v < 4:  # IR 3: every initializer is also a graph input
        names = {i.name for i in inputs}
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                   for t in inits if t.name not in names]
    g = helper.make_graph(nodes, "case", inputs, outputs, list(inits),
                          value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="gen-onnx-cases")
    # the IR version that came with the opset (onnx.helper.VERSION_TABLE)
    m.ir_version = ir_v
    if check and opset <= 17:
        onnx.checker.check_model(m)
    return m


def vi(name, shape, et=F):
    return helper.make_tensor_value_info(name, et, shape)


# ---- tensors: every storage form -------------------------------------------
def tensor_files():
    d = mkdir("tensors")
    cases = []
    f32 = RNG.randn(2, 3).astype(np.float32)
    cases.append(("float_data", helper.make_tensor("t", F, f32.shape, f32.flatten().tolist()), f32))
    cases.append(("float_raw", numpy_helper.from_array(f32, "t"), f32))
    i64 = np.array([[1, -2, 3], [1 << 40, -(1 << 40), 0]], np.int64)
    cases.append(("int64_data", helper.make_tensor("t", TensorProto.INT64, i64.shape, i64.flatten().tolist()), i64))
    cases.append(("int64_raw", numpy_helper.from_array(i64, "t"), i64))
    i32 = np.array([7, -8, 1 << 30], np.int32)
    cases.append(("int32_data", helper.make_tensor("t", TensorProto.INT32, i32.shape, i32.tolist()), i32))
    i8 = np.array([-128, 0, 127, 5], np.int8)
    cases.append(("int8_data", helper.make_tensor("t", TensorProto.INT8, i8.shape, i8.tolist()), i8))
    cases.append(("int8_raw", numpy_helper.from_array(i8, "t"), i8))
    u8 = np.array([0, 255, 17], np.uint8)
    cases.append(("uint8_data", helper.make_tensor("t", TensorProto.UINT8, u8.shape, u8.tolist()), u8))
    cases.append(("uint8_raw", numpy_helper.from_array(u8, "t"), u8))
    b = np.array([True, False, True], np.bool_)
    cases.append(("bool_data", helper.make_tensor("t", TensorProto.BOOL, b.shape, b.tolist()), b))
    cases.append(("bool_raw", numpy_helper.from_array(b, "t"), b))
    f16 = np.array([1.5, -2.25, 65504, 1e-3], np.float16)
    # (make_tensor stores FLOAT16 values as their bits in int32_data)
    cases.append(("f16_data", helper.make_tensor("t", TensorProto.FLOAT16, f16.shape, f16.tolist()), f16))
    cases.append(("f16_raw", numpy_helper.from_array(f16, "t"), f16))
    s0 = np.array(3.25, np.float32)
    cases.append(("scalar", numpy_helper.from_array(s0, "t"), s0))
    empty = np.zeros((0, 3), np.float32)
    cases.append(("empty", numpy_helper.from_array(empty, "t"), empty))
    for name, t, ref in cases:
        with open(os.path.join(d, name + ".pb"), "wb") as f:
            f.write(t.SerializeToString())
        np.save(os.path.join(d, name + ".npy"), ref)
    # bfloat16: raw bits; the reference is the f32 value of the bits
    bits = np.array([0x3fc0, 0xc010, 0x0000], np.uint16)
    t = helper.make_tensor("t", TensorProto.BFLOAT16, bits.shape, bits.tobytes(), raw=True)
    with open(os.path.join(d, "bf16_raw.pb"), "wb") as f:
        f.write(t.SerializeToString())
    np.save(os.path.join(d, "bf16_raw.npy"), (bits.astype(np.uint32) << 16).view(np.float32))
    # unsupported type and corrupt files
    t = numpy_helper.from_array(np.array([1.0, 2.0]), "t")  # DOUBLE
    with open(os.path.join(d, "double.pb"), "wb") as f:
        f.write(t.SerializeToString())
    t = numpy_helper.from_array(f32, "t")
    t.raw_data = t.raw_data[:-4]
    with open(os.path.join(d, "short_raw.pb"), "wb") as f:
        f.write(t.SerializeToString())
    with open(os.path.join(d, "truncated.pb"), "wb") as f:
        f.write(numpy_helper.from_array(f32, "t").SerializeToString()[:-7])
    t = helper.make_tensor("t", TensorProto.INT8, [2], [1, 300])
    with open(os.path.join(d, "int8_range.pb"), "wb") as f:
        f.write(t.SerializeToString())


# ---- models whose initializer uses one storage form ------------------------
def storage_models():
    d = mkdir("storage")
    names = []
    for f in sorted(os.listdir(os.path.join(OUT, "tensors"))):
        name = f[:-3]
        if not f.endswith(".pb") or name in ("double", "short_raw", "truncated", "int8_range"):
            continue
        t = onnx.load_tensor(os.path.join(OUT, "tensors", f))
        t.name = "W"
        et = t.data_type
        shape = list(t.dims)
        m = model([helper.make_node("Identity", ["W"], ["Y"], name="id")], [],
                  [vi("Y", shape, et)], [t])
        onnx.save(m, os.path.join(d, name + ".onnx"))
        shutil.copyfile(os.path.join(OUT, "tensors", name + ".npy"), os.path.join(d, name + ".npy"))
        names.append(name)
    # DOUBLE initializers are converted to f32 (documented)
    w = np.array([1.25, -3.5, 1e-3])
    m = model([helper.make_node("Identity", ["W"], ["Y"])], [], [vi("Y", [3], TensorProto.DOUBLE)],
              [numpy_helper.from_array(w, "W")])
    onnx.save(m, os.path.join(d, "double.onnx"))
    np.save(os.path.join(d, "double.npy"), w.astype(np.float32))
    # Constant nodes in every form become initializers
    consts = {
        "const_tensor": (helper.make_node("Constant", [], ["W"], value=numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3))),
                         np.arange(6, dtype=np.float32).reshape(2, 3), F),
        "const_float": (helper.make_node("Constant", [], ["W"], value_float=2.5), np.array(2.5, np.float32), F),
        "const_floats": (helper.make_node("Constant", [], ["W"], value_floats=[1.0, -2.0]), np.array([1.0, -2.0], np.float32), F),
        "const_int": (helper.make_node("Constant", [], ["W"], value_int=-7), np.array(-7, np.int64), TensorProto.INT64),
        "const_ints": (helper.make_node("Constant", [], ["W"], value_ints=[3, 1 << 35]), np.array([3, 1 << 35], np.int64), TensorProto.INT64),
    }
    for name, (node, ref, et) in consts.items():
        m = model([node, helper.make_node("Identity", ["W"], ["Y"])], [], [vi("Y", list(ref.shape), et)])
        onnx.save(m, os.path.join(d, name + ".onnx"))
        np.save(os.path.join(d, name + ".npy"), ref)
        names.append(name)


# ---- opset variants ----------------------------------------------------------
def softmax_ref(x, axis, legacy):
    if legacy:  # coerce to 2-D at axis
        if axis < 0:
            axis += x.ndim
        s = x.reshape(int(np.prod(x.shape[:axis])), -1)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def op_cases():
    d = mkdir("ops")
    lst = []

    def add(name, m, x, y, batch=None):
        onnx.save(m, os.path.join(d, name + ".onnx"))
        np.save(os.path.join(d, name + ".x.npy"), x.astype(np.float32))
        np.save(os.path.join(d, name + ".y.npy"), y.astype(np.float32))
        lst.append("%s %d" % (name, batch or x.shape[0]))

    x4 = RNG.randn(2, 3, 4, 5).astype(np.float32)
    X4 = [vi("x", list(x4.shape))]
    Y4 = [vi("y", list(x4.shape))]
    # Clip: attributes before 11, inputs from 11
    for opset in (7, 10):
        add("clip_attr_%d" % opset,
            model([helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)], X4, Y4, opset=opset),
            x4, np.clip(x4, -0.5, 0.7))
    add("clip_attr_min_only",
        model([helper.make_node("Clip", ["x"], ["y"], min=0.1)], X4, Y4, opset=9), x4, np.maximum(x4, 0.1))
    add("clip_inputs_11",
        model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], X4, Y4,
              [numpy_helper.from_array(np.array(-0.25, np.float32), "lo"),
               numpy_helper.from_array(np.array(0.5, np.float32), "hi")], opset=11),
        x4, np.clip(x4, -0.25, 0.5))
    add("clip_max_only_13",
        model([helper.make_node("Clip", ["x", "", "hi"], ["y"])], X4, Y4,
              [numpy_helper.from_array(np.array(0.5, np.float32), "hi")], opset=13),
        x4, np.minimum(x4, 0.5))
    # Softmax: coerce-to-2D before 13, one axis from 13
    add("softmax_11_axis1", model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], X4, Y4, opset=11),
        x4, softmax_ref(x4, 1, True))
    add("softmax_11_default", model([helper.make_node("Softmax", ["x"], ["y"])], X4, Y4, opset=11),
        x4, softmax_ref(x4, 1, True))
    add("softmax_11_axis2", model([helper.make_node("Softmax", ["x"], ["y"], axis=2)], X4, Y4, opset=11),
        x4, softmax_ref(x4, 2, True))
    add("softmax_11_last", model([helper.make_node("Softmax", ["x"], ["y"], axis=-1)], X4, Y4, opset=11),
        x4, softmax_ref(x4, -1, True))
    add("softmax_13_axis1", model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], X4, Y4, opset=13),
        x4, softmax_ref(x4, 1, False))
    add("softmax_13_default", model([helper.make_node("Softmax", ["x"], ["y"])], X4, Y4, opset=13),
        x4, softmax_ref(x4, -1, False))
    # symbolic batch with the legacy coerce: Flatten/Softmax/Reshape(-1, ...)
    xs = [vi("x", ["N", 3, 4, 5])]
    ys = [vi("y", ["N", 3, 4, 5])]
    add("softmax_9_axis1_dynamic", model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], xs, ys, opset=9),
        x4, softmax_ref(x4, 1, True))
    # Pad: attributes before 11, inputs from 11
    pads = [0, 0, 1, 2, 0, 0, 2, 1]
    npp = ((0, 0), (0, 0), (1, 2), (2, 1))
    yp = [vi("y", [2, 3, 7, 8])]
    add("pad_attr_7", model([helper.make_node("Pad", ["x"], ["y"], pads=pads, value=1.5)], X4, yp, opset=7),
        x4, np.pad(x4, npp, constant_values=1.5))
    add("pad_attr_reflect_2", model([helper.make_node("Pad", ["x"], ["y"], pads=pads, mode="reflect")], X4, yp, opset=10),
        x4, np.pad(x4, npp, mode="reflect"))
    add("pad_inputs_11", model([helper.make_node("Pad", ["x", "p", "v"], ["y"])], X4, yp,
                               [numpy_helper.from_array(np.array(pads, np.int64), "p"),
                                numpy_helper.from_array(np.array(-2.0, np.float32), "v")], opset=11),
        x4, np.pad(x4, npp, constant_values=-2.0))
    # Squeeze / Unsqueeze: axes attribute before 13, input from 13
    x3 = RNG.randn(2, 1, 5).astype(np.float32)
    add("squeeze_attr_11", model([helper.make_node("Squeeze", ["x"], ["y"], axes=[1])], [vi("x", [2, 1, 5])],
                                 [vi("y", [2, 5])], opset=11), x3, x3.reshape(2, 5))
    add("squeeze_input_13", model([helper.make_node("Squeeze", ["x", "a"], ["y"])], [vi("x", [2, 1, 5])],
                                  [vi("y", [2, 5])], [numpy_helper.from_array(np.array([-2], np.int64), "a")],
                                  opset=13), x3, x3.reshape(2, 5))
    add("unsqueeze_attr_11", model([helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0, 3])], [vi("x", [2, 1, 5])],
                                   [vi("y", [1, 2, 1, 1, 5])], opset=11), x3, x3.reshape(1, 2, 1, 1, 5), batch=1)
    add("unsqueeze_input_13", model([helper.make_node("Unsqueeze", ["x", "a"], ["y"])], [vi("x", [2, 1, 5])],
                                    [vi("y", [2, 1, 5, 1])], [numpy_helper.from_array(np.array([3], np.int64), "a")],
                                    opset=13), x3, x3.reshape(2, 1, 5, 1))
    # Reshape: 0 copies a dim (allowzero absent/0); a Constant node as shape
    add("reshape_13_zero", model([helper.make_node("Reshape", ["x", "s"], ["y"])], X4, [vi("y", [2, 3, 20])],
                                 [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "s")], opset=13),
        x4, x4.reshape(2, 3, 20))
    add("reshape_14_allowzero0", model([
        helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=0)], X4, [vi("y", [2, 60])], opset=14),
        x4, x4.reshape(2, 60))
    # BatchNormalization: spatial attribute (7), plain (9), training_mode form (15)
    c = 3
    sc, bi = RNG.rand(c).astype(np.float32) + 0.5, RNG.randn(c).astype(np.float32)
    mu, var = RNG.randn(c).astype(np.float32), RNG.rand(c).astype(np.float32) + 0.1
    bn_inits = [numpy_helper.from_array(a, n) for a, n in ((sc, "s"), (bi, "b"), (mu, "m"), (var, "v"))]
    r = lambda a: a.reshape(1, c, 1, 1)
    bn_ref = (x4 - r(mu)) / np.sqrt(r(var) + 1e-3) * r(sc) + r(bi)
    add("batchnorm_7_spatial", model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                                       epsilon=1e-3, spatial=1)], X4, Y4, bn_inits, opset=7),
        x4, bn_ref)
    add("batchnorm_9", model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                               epsilon=1e-3)], X4, Y4, bn_inits, opset=9), x4, bn_ref)
    add("batchnorm_15", model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                                epsilon=1e-3, training_mode=0)], X4, Y4, bn_inits, opset=15),
        x4, bn_ref)
    # Dropout (inference = identity): ratio attribute before 12, input after
    add("dropout_7", model([helper.make_node("Dropout", ["x"], ["y"], ratio=0.3)], X4, Y4, opset=7), x4, x4)
    add("dropout_10_mask", model([helper.make_node("Dropout", ["x"], ["y", "mask"], ratio=0.3)], X4, Y4, opset=10),
        x4, x4)
    add("dropout_13", model([helper.make_node("Dropout", ["x", "r"], ["y"])], X4, Y4,
                            [numpy_helper.from_array(np.array(0.3, np.float32), "r")], opset=13), x4, x4)
    # Gemm: C required before 11 (broadcast bias), optional after
    x2 = RNG.randn(4, 6).astype(np.float32)
    wt = RNG.randn(5, 6).astype(np.float32)
    bias = RNG.randn(5).astype(np.float32)
    add("gemm_7_transB", model([helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1, alpha=0.5, beta=2.0)],
                               [vi("x", [4, 6])], [vi("y", [4, 5])],
                               [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(bias, "c")], opset=7),
        x2, 0.5 * x2 @ wt.T + 2.0 * bias)
    add("gemm_11_noC", model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
                             [vi("x", [4, 6])], [vi("y", [4, 5])], [numpy_helper.from_array(wt, "w")], opset=11),
        x2, x2 @ wt.T)
    # ReduceMean: axes attribute before 18, input from 18
    add("reducemean_13", model([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1)], X4,
                               [vi("y", [2, 3, 1, 1])], opset=13), x4, x4.mean(axis=(2, 3), keepdims=True))
    add("reducemean_18", model([helper.make_node("ReduceMean", ["x", "a"], ["y"], keepdims=0)], X4,
                               [vi("y", [2, 3])], [numpy_helper.from_array(np.array([-1, 2], np.int64), "a")],
                               opset=18, check=False), x4, x4.mean(axis=(2, 3)))
    # torch's HardSwish below opset 14: x * HardSigmoid(x, 1/6, 1/2)
    add("hardswish_pattern_13", model([
        helper.make_node("HardSigmoid", ["x"], ["h"], alpha=1.0 / 6, beta=0.5),
        helper.make_node("Mul", ["x", "h"], ["y"])], X4, Y4, opset=13),
        x4, x4 * np.clip(x4 / 6 + 0.5, 0, 1))
    # nodes out of order: the reader sorts them
    add("unsorted", model([
        helper.make_node("Relu", ["t"], ["y"], name="second"),
        helper.make_node("Add", ["x", "x"], ["t"], name="first")], X4, Y4, opset=13, check=False),
        x4, np.maximum(x4 + x4, 0))
    # old exporters list initializers as graph inputs too
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", [2, 3, 4, 5]), vi("w", [5])], Y4,
              [numpy_helper.from_array(np.arange(5, dtype=np.float32), "w")], opset=9)
    add("init_as_input_9", m, x4, x4 + np.arange(5, dtype=np.float32))
    # an unknown (unnamed) dim and a value_info entry
    m = model([helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Sigmoid", ["t"], ["y"])],
              [helper.make_tensor_value_info("x", F, [None, 3, 4, 5])], [vi("y", ["b", 3, 4, 5])],
              value_info=[vi("t", ["b", 3, 4, 5])], opset=13)
    add("unknown_dim", m, x4, 1 / (1 + np.exp(-np.maximum(x4, 0))))
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("\n".join(lst) + "\n")


# ---- external data ------------------------------------------------------------
def ext_model(loc, offset=None, length=None, w=None):
    w = np.arange(12, dtype=np.float32).reshape(3, 4) if w is None else w
    t = numpy_helper.from_array(w, "W")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", loc), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    g = helper.make_graph([helper.make_node("Add", ["x", "W"], ["y"])], "ext",
                          [vi("x", [3, 4])], [vi("y", [3, 4])], [t])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m


def external():
    root = mkdir("external")
    d = mkdir("external", "model")
    mkdir("external", "model", "sub")
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    blob = b"\xAB" * 4096 + w.tobytes()
    for p in (os.path.join(d, "weights.bin"), os.path.join(d, "sub", "w.bin"),
              os.path.join(root, "outside.bin")):
        with open(p, "wb") as f:
            f.write(blob)
    np.save(os.path.join(d, "W.npy"), w)
    good = {"good.onnx": ext_model("weights.bin", 4096, 48),
            "good_sub.onnx": ext_model("sub/w.bin", 4096, 48),
            "good_nolength.onnx": None}
    with open(os.path.join(d, "tail.bin"), "wb") as f:
        f.write(w.tobytes())
    good["good_nolength.onnx"] = ext_model("tail.bin")
    for n, m in good.items():
        onnx.save(m, os.path.join(d, n))
    link = os.path.join(d, "link.bin")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("../outside.bin", link)
    bad = [
        ("dotdot.onnx", ext_model("../outside.bin", 4096, 48), "contains '..'"),
        ("dotdot_inner.onnx", ext_model("sub/../../outside.bin", 4096, 48), "contains '..'"),
        ("absolute.onnx", ext_model(os.path.abspath(os.path.join(root, "outside.bin")), 4096, 48), "absolute path"),
        ("symlink.onnx", ext_model("link.bin", 4096, 48), "outside the model's folder"),
        ("too_long.onnx", ext_model("weights.bin", 4096, 4000), "exceeds its size"),
        ("wrong_length.onnx", ext_model("weights.bin", 0, 40), "expected 48"),
        ("missing.onnx", ext_model("nothere.bin", 0, 48), "nothere.bin"),
        ("bad_offset.onnx", ext_model("weights.bin", "-5", 48), "offset '-5'"),
    ]
    with open(os.path.join(d, "bad.txt"), "w") as f:
        for n, m, msg in bad:
            onnx.save(m, os.path.join(d, n))
            f.write("%s|%s\n" % (n, msg))


# ---- bad models -------------------------------------------------------------------
def bad():
    d = mkdir("bad")
    rows = []
    X = [vi("x", [2, 3])]
    Y = [vi("y", [2, 3])]
    good = model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], X, Y,
                 [numpy_helper.from_array(RNG.randn(2, 3).astype(np.float32), "w")])
    data = good.SerializeToString()
    for n in (len(data) - 1, len(data) // 2, 3):
        with open(os.path.join(d, "truncated_%d.onnx" % n), "wb") as f:
            f.write(data[:n])
        rows.append(("truncated_%d.onnx" % n, "NK_FORMAT", "truncated or corrupt"))
    m = onnx.ModelProto()
    m.CopyFrom(good)
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:-4]
    onnx.save(m, os.path.join(d, "raw_length.onnx"))
    rows.append(("raw_length.onnx", "NK_FORMAT", "raw_data has 20 bytes, expected 24"))
    m = model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")], X, Y, check=False)
    onnx.save(m, os.path.join(d, "dangling.onnx"))
    rows.append(("dangling.onnx", "NK_FORMAT", "input 'nowhere' is not produced"))
    m = model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
               helper.make_node("Relu", ["a"], ["b"], name="n2"),
               helper.make_node("Relu", ["a"], ["y"], name="n3")], X, Y, check=False)
    onnx.save(m, os.path.join(d, "cycle.onnx"))
    rows.append(("cycle.onnx", "NK_FORMAT", "part of a cycle"))
    m = model([helper.make_node("FancyOp", ["x"], ["y"], name="fancy")], X, Y, opset=13, check=False)
    onnx.save(m, os.path.join(d, "unknown_op.onnx"))
    rows.append(("unknown_op.onnx", "NK_UNSUPPORTED", "node 'fancy' (#0): op 'FancyOp' of domain 'ai.onnx' (opset 13)"))
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="custom", domain="com.example")],
                          "c", X, Y)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 3)])
    onnx.save(m, os.path.join(d, "custom_domain.onnx"))
    rows.append(("custom_domain.onnx", "NK_UNSUPPORTED", "op 'Relu' of domain 'com.example' (opset 3)"))
    m = model([helper.make_node("Relu", ["x"], ["y"])], X, Y, opset=6, ir=3, check=False)
    onnx.save(m, os.path.join(d, "opset6.onnx"))
    rows.append(("opset6.onnx", "NK_UNSUPPORTED", "opset 6"))
    m = model([helper.make_node("Relu", ["x"], ["y"], name="r1"), helper.make_node("Relu", ["x"], ["y"], name="r2")],
              X, Y, check=False)
    onnx.save(m, os.path.join(d, "two_producers.onnx"))
    rows.append(("two_producers.onnx", "NK_FORMAT", "already defined"))
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [vi("x", ["N", "C", 4])], [vi("y", ["N", "C", 4])],
              opset=11, check=False)
    onnx.save(m, os.path.join(d, "softmax_legacy_symbolic.onnx"))
    rows.append(("softmax_legacy_symbolic.onnx", "NK_UNSUPPORTED", "coerces the input to 2-D"))
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2, 3], TensorProto.DOUBLE)], Y, check=False)
    onnx.save(m, os.path.join(d, "double_input.onnx"))
    rows.append(("double_input.onnx", "NK_UNSUPPORTED", "element type DOUBLE"))
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], spatial=0)],
              [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])],
              [numpy_helper.from_array(np.ones((3, 4), np.float32), n) for n in "sbmv"], opset=7, check=False)
    onnx.save(m, os.path.join(d, "bn_spatial0.onnx"))
    rows.append(("bn_spatial0.onnx", "NK_UNSUPPORTED", "spatial = 0"))
    with open(os.path.join(d, "not_onnx.onnx"), "wb") as f:
        f.write(b"hello, this is not a model\n")
    rows.append(("not_onnx.onnx", "NK_FORMAT", "not a model file"))
    with open(os.path.join(d, "list.txt"), "w") as f:
        for r in rows:
            f.write("|".join(r) + "\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tensor_files()
    storage_models()
    op_cases()
    external()
    bad()
    print("wrote ONNX cases to", OUT)
