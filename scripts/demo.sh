#!/usr/bin/env bash
# demo.sh — the main job end to end, offline: installs the Debian packages,
# builds nnkit, pulls a model with `nnkit hub` from a local GitHub stand-in,
# creates a ResNet-18 from the zoo, prints its summary and classifies real
# images shipped by Debian data packages.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Installing build dependencies (Debian packages; quiet when all present)"
scripts/install-deps.sh

step "Building nnkit into build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target nnkit
nnkit=build/nnkit
demo=build/demo
mkdir -p "$demo"

step "Pulling a model with nnkit hub from a local GitHub stand-in (127.0.0.1, no internet)"
scripts/demo-hub.sh "$nnkit" "$demo"

step "Creating a ResNet-18 from the model zoo"
cat <<'NOTE'
NOTE: this model has RANDOM weights (seeded initialisation, not trained), so
      the predicted classes below are meaningless. The demo shows the
      pipeline (zoo -> .nnk file -> image decoding and preprocessing ->
      inference -> top-k), not accuracy.
NOTE
show "$nnkit" zoo create resnet18 -o "$demo/resnet18.nnk"

step "Converting to ONNX (opset 13) and checking the result against the source"
show "$nnkit" convert "$demo/resnet18.nnk" "$demo/resnet18.onnx" --verify

step "Model summary"
show "$nnkit" info "$demo/resnet18.nnk"

step "Collecting images from Debian data packages"
hopper=/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg
if [ ! -f "$hopper" ]; then
  echo "demo.sh: $hopper missing (package python-matplotlib-data)" >&2
  exit 1
fi
echo "$hopper (python-matplotlib-data)"
rm -rf "$demo/fashion-mnist"
# Four Fashion-MNIST test images (28x28 grayscale), converted to PNG.
python3 scripts/fashion-mnist-to-png.py samples "$demo/fashion-mnist" \
  --split test --count 4
mapfile -t fashion < <(find "$demo/fashion-mnist" -name '*.png' | sort)

step "Classifying them (top 3; RANDOM weights, so the labels are noise)"
show "$nnkit" run "$demo/resnet18.nnk" "$hopper" "${fashion[@]}" --topk 3

step "Converting to TensorFlow Lite (NHWC, no TRANSPOSE ops) and running the .tflite with nnkit"
show "$nnkit" convert "$demo/resnet18.nnk" "$demo/resnet18.tflite" --verify
show "$nnkit" run "$demo/resnet18.tflite" "$hopper" "${fashion[@]}" --topk 3

step "Fine-tuning LeNet-5 on Fashion-MNIST (Debian's dataset-fashion-mnist) - real data, real accuracy"
NNKIT="$nnkit" sh scripts/demo-finetune.sh "$demo"

step "Done"
echo "Model: $demo/resnet18.nnk (RANDOM weights). Images: $hopper, $demo/fashion-mnist/"
