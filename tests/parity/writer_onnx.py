#!/usr/bin/env python3
"""writer_onnx.py — writer parity: a seeded torchvision state dict saved
with torch.save -> `nnkit zoo create ARCH --weights x.pth` -> `nnkit
convert x.nnk x.onnx [--opset N]` -> onnx.checker.check_model(full_check)
-> ONNX Runtime (onnxruntime-node, tests/onnx-ort-run.mjs) -> outputs
match PyTorch's within max(1e-4 * max|logits|, 1e-4). Also checks the
metadata_props, producer and ir_version of the written file.

usage: writer_onnx.py NNKIT_BIN WORKDIR NPM_PREFIX ORT_RUNNER [ARCH:OPSET ...]
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_onnx import seeded_model  # noqa: E402

DEFAULT = ["resnet18:13", "mobilenet_v3_small:11", "mobilenet_v3_small:13",
           "mobilenet_v3_small:17", "mobilenet_v2:13"]
IR_FOR_OPSET = {11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), r.returncode,
                                                 r.stderr.strip()))
    return r.stdout


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    nnkit, work, npm, runner = sys.argv[1:5]
    cases = sys.argv[5:] or DEFAULT
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(2)
    failures = 0
    made = set()
    for case in cases:
        arch, opset = case.split(":")
        opset = int(opset)
        try:
            m = seeded_model(arch, 7)
            pth = os.path.join(work, arch + ".pth")
            nnk = os.path.join(work, arch + ".nnk")
            out = os.path.join(work, "%s-op%d.onnx" % (arch, opset))
            if arch not in made:
                torch.save(m.state_dict(), pth)
                run([nnkit, "zoo", "create", arch, "--weights", pth, "-o", nnk])
                made.add(arch)
            run([nnkit, "convert", nnk, out, "--opset", str(opset)])
            onnx.checker.check_model(out, full_check=True)
            mp = onnx.load(out)
            props = {p.key: p.value for p in mp.metadata_props}
            assert mp.producer_name == "nnkit", mp.producer_name
            assert mp.ir_version == IR_FOR_OPSET[opset], mp.ir_version
            assert [o.version for o in mp.opset_import] == [opset], mp.opset_import
            assert props.get("arch") == arch, props
            assert len(props["nnkit.labels"].split("\n")) == 1000
            assert "crop=224x224" in props["nnkit.preprocessing"], props
            dim0 = mp.graph.input[0].type.tensor_type.shape.dim[0]
            assert dim0.dim_param == "batch", dim0
            for batch in (1, 3):
                x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch))
                with torch.no_grad():
                    ref = m(x).numpy()
                xp = os.path.join(work, "x%d.npy" % batch)
                np.save(xp, x.numpy())
                od = os.path.join(work, "%s-op%d-b%d" % (arch, opset, batch))
                run(["node", runner, npm, out, xp, od])
                got = np.load(os.path.join(od, "logits.npy"))
                diff = float(np.abs(got.astype(np.float64) - ref).max())
                tol = max(1e-4 * float(np.abs(ref).max()), 1e-4)
                ok = got.shape == ref.shape and diff <= tol
                failures += not ok
                print("%s %-20s opset %2d batch %d: ONNX Runtime vs torch max abs diff %.3g (tol %.3g)"
                      % ("ok  " if ok else "FAIL", arch, opset, batch, diff, tol))
        except Exception as e:  # report and go on with the other cases
            print("FAIL %-20s opset %2d: %s" % (arch, opset, e))
            failures += 1
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
