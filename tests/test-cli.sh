#!/bin/sh
# test-cli.sh — end-to-end checks of the nnkit binary ($NNKIT_BIN): help,
# exit codes, zoo, info (--json validated by Python), run with .npy in and
# out (shape checked by numpy), error messages, convert --verify.
set -u
BIN=${NNKIT_BIN:?NNKIT_BIN must name the nnkit binary}
PY=${NK_PYTHON:-/usr/bin/python3}
T=${NNKIT_TEST_TMP:-/tmp}/cli.$$
rm -rf "$T" && mkdir -p "$T" || exit 1
trap 'rm -rf "$T"' EXIT
fails=0
pass=0

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS CMD...: run, keep stdout/stderr in $T/out $T/err.
expect() {
    want=$1; shift
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        bad "'$*' exited $got, expected $want"; cat "$T/err"; fi
}
# has FILE TEXT: FILE contains TEXT.
has() {
    if grep -qF -- "$2" "$1"; then ok; else
        bad "$1 lacks '$2'"; sed 's/^/    /' "$1"; fi
}

# --- help and usage ---------------------------------------------------------
expect 0 "$BIN" --help; has "$T/out" "convert"
expect 0 "$BIN" --version; has "$T/out" "nnkit 0."
expect 2 "$BIN"
expect 2 "$BIN" no-such-command; has "$T/err" "no-such-command"
for c in "zoo list" "zoo create" info run convert; do
    expect 0 "$BIN" $c --help; has "$T/out" "usage: nnkit $c"
done
expect 0 "$BIN" zoo --help
"$BIN" zoo create --help >"$T/h"; for o in --classes --width-mult --input-size --weights --seed --no-strict --output; do has "$T/h" "$o"; done
"$BIN" run --help >"$T/h"; for o in --topk --input --output-dir --threads --batch; do has "$T/h" "$o"; done
"$BIN" convert --help >"$T/h"; for o in --verify --opset; do has "$T/h" "$o"; done
"$BIN" info --help >"$T/h"; has "$T/h" "--json"
expect 2 "$BIN" run --no-such-option; has "$T/err" "--no-such-option"
expect 2 "$BIN" info
expect 2 "$BIN" zoo create lenet5
expect 2 "$BIN" run x.nnk --topk nope

# --- zoo --------------------------------------------------------------------
expect 0 "$BIN" zoo list; has "$T/out" "lenet5"; has "$T/out" "resnet18"
expect 0 "$BIN" zoo list --json
"$PY" -m json.tool "$T/out" >/dev/null && ok || bad "zoo list --json is not JSON"
expect 1 "$BIN" zoo create no_such_arch -o "$T/x.nnk"; has "$T/err" "no_such_arch"
[ ! -e "$T/x.nnk" ] && ok || bad "a file was left for an unknown arch"
expect 0 "$BIN" zoo create lenet5 --seed 7 -o "$T/l5.nnk"
[ -s "$T/l5.nnk" ] && ok || bad "zoo create wrote nothing"
# --input-size: input dims and preprocessing (resize round(N*256/224), crop N)
expect 0 "$BIN" zoo create mobilenet_v2 --width-mult 0.35 --input-size 48 --classes 3 -o "$T/m48.nnk"
expect 0 "$BIN" info "$T/m48.nnk" --json
"$PY" - "$T/out" <<'PYEOF' && ok || bad "zoo create --input-size 48: info --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["inputs"][0]["shape"] == ["batch", 3, 48, 48], d["inputs"]
assert d["outputs"][0]["shape"] == ["batch", 3], d["outputs"]
p = d["preprocessing"]
assert (p["resize"], p["crop_h"], p["crop_w"]) == (55, 48, 48), p
assert abs(p["mean"][0] - 0.485) < 1e-6 and abs(p["std"][2] - 0.225) < 1e-6, p
PYEOF
"$PY" -c "
import numpy as np
np.save('$T/x48.npy', np.random.RandomState(1).rand(2, 3, 48, 48).astype(np.float32))"
expect 0 "$BIN" run "$T/m48.nnk" --input "$T/x48.npy" --output-dir "$T/od48"
"$PY" -c "
import numpy as np
y = np.load('$T/od48/logits.npy'); assert y.shape == (2, 3) and np.isfinite(y).all(), y" \
    && ok || bad "run at --input-size 48: logits"
expect 0 "$BIN" zoo create resnet18 --input-size 224 --classes 2 -o "$T/r224.nnk"
expect 0 "$BIN" info "$T/r224.nnk"; has "$T/out" "resize 256 (bilinear), crop 224x224"
expect 1 "$BIN" zoo create vgg11 --input-size 64 -o "$T/x.nnk"
has "$T/err" "vgg11: input_size = 64, but vgg11 takes only 224x224 inputs"
expect 1 "$BIN" zoo create lenet5 --input-size 32 -o "$T/x.nnk"
has "$T/err" "takes only 28x28 inputs"
expect 1 "$BIN" zoo create resnet18 --input-size 16 -o "$T/x.nnk"; has "$T/err" "32..4096"
expect 2 "$BIN" zoo create resnet18 --input-size 5000 -o "$T/x.nnk"; has "$T/err" "--input-size"
[ ! -e "$T/x.nnk" ] && ok || bad "a file was left for a refused --input-size"
expect 0 "$BIN" zoo list; has "$T/out" "224 only"; has "$T/out" "28 only"
expect 0 "$BIN" zoo list --json
"$PY" - "$T/out" <<'PYEOF' && ok || bad "zoo list --json: input sizes"
import json, sys
d = {a["name"]: a for a in json.load(open(sys.argv[1]))}
assert d["resnet18"]["input_size"] == 224 and d["resnet18"]["input_size_free"] is True
assert d["vgg16"]["input_size_free"] is False and d["lenet5"]["input_size"] == 28
PYEOF

# --- info -------------------------------------------------------------------
expect 0 "$BIN" info "$T/l5.nnk"
has "$T/out" "Total params: 61,706"; has "$T/out" "batch is dynamic"; has "$T/out" "Conv"
expect 0 "$BIN" info "$T/l5.nnk" --json
"$PY" -m json.tool "$T/out" >/dev/null && ok || bad "info --json is not JSON"
"$PY" - "$T/out" <<'PYEOF' && ok || bad "info --json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["total_params"] == 61706, d["total_params"]
assert d["inputs"][0]["shape"][0] == "batch"
assert d["outputs"][0]["shape"][-1] == 10
assert len(d["layers"]) > 5
PYEOF

# --- run with .npy ----------------------------------------------------------
"$PY" -c "
import numpy as np
np.save('$T/x.npy', np.random.RandomState(0).rand(3, 1, 28, 28).astype(np.float32))
np.save('$T/wrong.npy', np.zeros((3, 1, 32, 32), np.float32))"
expect 0 "$BIN" run "$T/l5.nnk" --input "$T/x.npy" --output-dir "$T/od/deep"
"$PY" -c "
import numpy as np
y = np.load('$T/od/deep/logits.npy')
assert y.shape == (3, 10) and y.dtype == np.float32, (y.shape, y.dtype)
assert np.isfinite(y).all()" && ok || bad "logits.npy has the wrong shape"
expect 0 "$BIN" run "$T/l5.nnk" --input input="$T/x.npy" --threads 1
has "$T/out" "logits"; has "$T/out" "[3, 10]"
expect 1 "$BIN" run "$T/l5.nnk" --input "$T/wrong.npy"
has "$T/err" "input"; has "$T/err" "[3, 1, 32, 32]"; has "$T/err" "[3, 1, 28, 28]"
expect 1 "$BIN" run "$T/l5.nnk" --input nosuch="$T/x.npy"; has "$T/err" "nosuch"

# --- run with images --------------------------------------------------------
"$PY" -c "
import numpy as np
from PIL import Image
Image.fromarray((np.arange(40 * 30 * 3) % 256).astype(np.uint8).reshape(30, 40, 3)).save('$T/a.png')"
expect 0 "$BIN" run "$T/l5.nnk" "$T/a.png" "$T/a.png" --topk 3
has "$T/out" "$T/a.png"
[ "$(grep -c '^ *[123]  0\.' "$T/out")" -eq 6 ] && ok || bad "expected 3 rows per image"
expect 1 "$BIN" run "$T/l5.nnk" "$T/missing.jpg"; has "$T/err" "missing.jpg"
printf 'not an image' >"$T/fake.jpg"
expect 1 "$BIN" run "$T/l5.nnk" "$T/fake.jpg"; has "$T/err" "fake.jpg"

# --- broken model files -----------------------------------------------------
head -c 2000 "$T/l5.nnk" >"$T/trunc.nnk"
expect 1 "$BIN" info "$T/trunc.nnk"; has "$T/err" "trunc.nnk"
expect 1 "$BIN" run "$T/trunc.nnk" --input "$T/x.npy"; has "$T/err" "nnkit:"

# --- convert ----------------------------------------------------------------
expect 0 "$BIN" convert "$T/l5.nnk" "$T/l5b.nnk" --verify
has "$T/out" "max abs diff"; has "$T/out" "max rel diff"
[ -s "$T/l5b.nnk" ] && ok || bad "convert wrote nothing"
expect 2 "$BIN" convert "$T/l5.nnk" "$T/out.unknownext"

# --- bench ------------------------------------------------------------------
expect 0 "$BIN" bench --help; has "$T/out" "--profile"
expect 0 "$BIN" bench "$T/m48.nnk" -t 1 -r 2 -w 1 --profile
has "$T/out" "median"; has "$T/out" "profile"; has "$T/out" "Conv "
expect 0 "$BIN" bench "$T/m48.nnk" -t 1 -r 2 -w 1 --profile --json
"$PY" - "$T/out" <<'PYEOF' && ok || bad "bench --profile --json: one JSON object with its steps"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["median_ms"] > 0 and d["runs"] == 2, d
steps = d["profile"]
assert steps and all(s["ms"] >= 0 and s["kernel"] and s["step"] for s in steps)
assert any(s["step"].startswith("Conv ") for s in steps)
assert abs(sum(s["ms"] for s in steps) - d["profile_ms"]) < 1e-2
PYEOF
expect 2 "$BIN" bench "$T/m48.nnk" --runs 0; has "$T/err" "--runs"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
