#!/usr/bin/python3
"""onnx_glue_export.py — the shape glue that torch.onnx.export (torch 1.13)
writes around real layers, end to end: small models whose forward uses
x.view(x.size(0), -1), reshape from x.shape, slicing, mean, squeeze,
flatten and arithmetic on sizes are exported at opsets 11, 13 and 17 with a
dynamic batch, then run by `nnkit run` at batch 1 and 3 and compared with
PyTorch (max |diff| <= 1e-4 * max(1, max |ref|)). Each export must
contain the glue ops it is meant to exercise.

Env: NNKIT_BIN (the CLI), NNKIT_TEST_TMP (scratch)."""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

torch.manual_seed(1234)
torch.set_num_threads(1)


class LeNetView(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(400, 120)
        self.f2 = nn.Linear(120, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.f2(torch.relu(self.f1(x)))


class SizeGlue(nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        y = x.reshape(b, c, h * w).mean(dim=2, keepdim=True)
        y = y[:, 1:, :].squeeze(2)
        z = torch.flatten(x[:, :, ::2, 1:], 1)
        return torch.cat([y, z[:, :3]], 1) * (x.shape[-1] / 2)


MODELS = [
    ("lenet_view", LeNetView(), (1, 28, 28),
     {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"}),
    ("size_glue", SizeGlue(), (4, 6, 6),
     {"Shape", "Gather", "Slice", "Squeeze", "ReduceMean", "Cast", "Div"}),
]


def main():
    nk = os.environ["NNKIT_BIN"]
    tmp = os.path.join(os.environ.get("NNKIT_TEST_TMP", "/tmp"), "glue-export")
    os.makedirs(tmp, exist_ok=True)
    failed = 0
    for name, model, shape, want_ops in MODELS:
        model.eval()
        for opset in (11, 13, 17):
            path = os.path.join(tmp, "%s-%d.onnx" % (name, opset))
            torch.onnx.export(model, torch.randn(1, *shape), path,
                              opset_version=opset, input_names=["input"],
                              output_names=["output"],
                              dynamic_axes={"input": {0: "batch"},
                                            "output": {0: "batch"}})
            ops = {n.op_type for n in onnx.load(path).graph.node}
            if not want_ops <= ops:
                print("FAIL %s opset %d: export lacks %s" %
                      (name, opset, sorted(want_ops - ops)))
                failed += 1
                continue
            for batch in (1, 3):
                x = torch.randn(batch, *shape)
                xin = os.path.join(tmp, "x.npy")
                out = os.path.join(tmp, "out")
                np.save(xin, x.numpy())
                r = subprocess.run([nk, "run", path, "--input", xin,
                                    "--output-dir", out],
                                   capture_output=True, text=True)
                what = "%s opset %d batch %d" % (name, opset, batch)
                if r.returncode != 0:
                    print("FAIL %s: nnkit run exited %d: %s" %
                          (what, r.returncode, r.stderr.strip()))
                    failed += 1
                    continue
                got = np.load(os.path.join(out, "output.npy"))
                with torch.no_grad():
                    ref = model(x).numpy()
                if got.shape != ref.shape:
                    print("FAIL %s: shape %s, expected %s" %
                          (what, got.shape, ref.shape))
                    failed += 1
                    continue
                diff = float(np.abs(got - ref).max())
                lim = 1e-4 * max(1.0, float(np.abs(ref).max()))
                ok = diff <= lim
                failed += not ok
                print("%s %s: max |diff| %.3g (limit %.3g)" %
                      ("ok  " if ok else "FAIL", what, diff, lim))
    print("%s" % ("all passed" if not failed else "%d failed" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
