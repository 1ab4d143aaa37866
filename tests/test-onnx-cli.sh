#!/bin/sh
# test-onnx-cli.sh — the nnkit command on ONNX files: convert between .nnk
# and .onnx in every direction with --verify, --opset 11..17 checked by
# onnx.checker (full_check), .pth input with and without --arch, info and
# run on .onnx (outputs equal to the .nnk's), errors that leave no file.
set -u
BIN=${NNKIT_BIN:?NNKIT_BIN must name the nnkit binary}
PY=${NK_PYTHON:-/usr/bin/python3}
T=${NNKIT_TEST_TMP:-/tmp}/onnx-cli.$$
rm -rf "$T" && mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
    want=$1; shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        bad "'$*' exited $got, expected $want"; cat "$T/out" "$T/err"; fi
}
has() {
    if grep -qF -- "$2" "$1"; then ok; else
        bad "$1 lacks '$2'"; sed 's/^/    /' "$1"; fi
}
absent() { [ ! -e "$1" ] && ok || bad "$1 exists"; }

# --- every pair of formats, with --verify ----------------------------------
expect 0 "$BIN" zoo create mobilenet_v3_small --classes 10 --seed 3 -o "$T/m.nnk"
expect 0 "$BIN" convert "$T/m.nnk" "$T/m.onnx" --verify; has "$T/out" "ok"
expect 0 "$BIN" convert "$T/m.onnx" "$T/back.nnk" --verify; has "$T/out" "max abs diff 0"
expect 0 "$BIN" convert "$T/m.onnx" "$T/m2.onnx" --verify; has "$T/out" "max abs diff 0"
expect 0 "$BIN" convert "$T/m.nnk" "$T/m2.nnk" --verify; has "$T/out" "max abs diff 0"
for o in 11 12 13 14 15 16 17; do
    expect 0 "$BIN" convert "$T/m.nnk" "$T/m-$o.onnx" --opset "$o" --verify
    has "$T/out" "ok"
done
"$PY" - "$T" <<'PYEOF' && ok || bad "onnx.checker on the written files"
import sys, onnx
t = sys.argv[1]
for f in ["m.onnx", "m2.onnx"] + ["m-%d.onnx" % o for o in range(11, 18)]:
    onnx.checker.check_model(t + "/" + f, full_check=True)
    m = onnx.load(t + "/" + f)
    assert m.producer_name == "nnkit"
    if f.startswith("m-"):
        assert m.opset_import[0].version == int(f[2:4]), (f, m.opset_import)
    else:
        assert m.opset_import[0].version == 13
    ops = {n.op_type for n in m.graph.node}
    # HardSwish exists from opset 14; below it is x * HardSigmoid(x)
    want = "HardSwish" if m.opset_import[0].version >= 14 else "HardSigmoid"
    assert want in ops, (f, sorted(ops))
PYEOF

# --- info and run on .onnx --------------------------------------------------
expect 0 "$BIN" info "$T/m.onnx"; has "$T/out" "HardSwish"; has "$T/out" "batch"
expect 0 "$BIN" info "$T/m.onnx" --json
"$PY" -c "import json,sys; d=json.load(open('$T/out')); assert d['inputs'][0]['shape'][0]=='batch'" && ok || bad "info --json on .onnx"
"$PY" -c "import numpy as np; np.save('$T/x.npy', np.random.RandomState(1).rand(4,3,224,224).astype(np.float32))"
expect 0 "$BIN" run "$T/m.nnk" --input "$T/x.npy" --output-dir "$T/o1"
expect 0 "$BIN" run "$T/m.onnx" --input "$T/x.npy" --output-dir "$T/o2"
expect 0 "$BIN" run "$T/m-11.onnx" --input "$T/x.npy" --output-dir "$T/o3"
"$PY" -c "
import numpy as np
a, b, c = (np.load('$T/%s/logits.npy' % d) for d in ('o1', 'o2', 'o3'))
assert a.shape == (4, 10) and (a == b).all() and (a == c).all()" && ok || bad "run .onnx != run .nnk"

# --- .pth needs --arch --------------------------------------------------------
"$PY" -c "
import torch, torchvision
torch.manual_seed(0)
torch.save(torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), '$T/w.pth')" || bad "torch.save"
expect 1 "$BIN" convert "$T/w.pth" "$T/w.onnx"
has "$T/err" "--arch"; has "$T/err" "zoo create"
absent "$T/w.onnx"
expect 0 "$BIN" convert "$T/w.pth" "$T/w.onnx" --arch mobilenet_v3_small --classes 10 --verify
has "$T/out" "ok"
expect 1 "$BIN" convert "$T/w.pth" "$T/w2.onnx" --arch resnet18
absent "$T/w2.onnx"
expect 2 "$BIN" convert "$T/m.nnk" "$T/x.onnx" --opset 10; has "$T/err" "11 to 17"
expect 2 "$BIN" convert "$T/m.nnk" "$T/x.nnk" --opset 13; has "$T/err" ".onnx"
absent "$T/x.onnx"

# --- unsupported ops: clear error, nothing written ------------------------
"$PY" - "$T" <<'PYEOF' || bad "writing the unknown-op model"
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"], name="r"),
                       helper.make_node("Einsum", ["t"], ["y"], name="mystery", equation="ij->ji")],
                      "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 1])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)]), sys.argv[1] + "/u.onnx")
PYEOF
expect 1 "$BIN" convert "$T/u.onnx" "$T/u.nnk"
has "$T/err" "'Einsum'"; has "$T/err" "mystery"; has "$T/err" "opset 12"; has "$T/err" "ai.onnx"
absent "$T/u.nnk"
expect 1 "$BIN" run "$T/u.onnx" --input "$T/x.npy"; has "$T/err" "Einsum"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
