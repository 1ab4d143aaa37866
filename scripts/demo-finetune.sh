#!/bin/sh
# demo-finetune.sh [WORKDIR] — the main job's fine-tuning step: write
# Fashion-MNIST (Debian's dataset-fashion-mnist) as an image folder,
# fine-tune LeNet-5 on it, print the real test accuracy, and classify a few
# test images by class name. NNKIT=path/to/nnkit (default: nnkit on PATH,
# else build/nnkit); NNKIT_DEMO_EPOCHS (default 2).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-${TMPDIR:-/tmp}/nnkit-demo}
if [ -z "${NNKIT:-}" ]; then
    if command -v nnkit >/dev/null 2>&1; then NNKIT=nnkit
    else NNKIT="$here/../build/nnkit"; fi
fi
epochs=${NNKIT_DEMO_EPOCHS:-2}
mkdir -p "$work"
fm="$work/fashion-mnist"

echo "== Fashion-MNIST as an image folder ($fm)"
python3 "$here/fashion-mnist-to-png.py" splits "$fm"

echo "== fine-tune LeNet-5 on it ($epochs epochs, all layers)"
"$NNKIT" zoo create lenet5 -o "$work/lenet5.nnk"
"$NNKIT" finetune "$work/lenet5.nnk" --data "$fm/train" --val "$fm/test" \
    --train-layers all --epochs "$epochs" -o "$work/fashion-lenet5.nnk" \
    --logdir "$work/fashion-logs"

echo "== accuracy on the 10000 test images"
"$NNKIT" eval "$work/fashion-lenet5.nnk" --data "$fm/test"

echo "== a few test images, classified by the fine-tuned model"
for c in Trouser Bag Sneaker Dress; do
    img=$(ls "$fm/test/$c" | head -n 1)
    echo "(true class: $c)"
    "$NNKIT" run "$work/fashion-lenet5.nnk" "$fm/test/$c/$img" --topk 1
done
echo "training report: $work/fashion-logs/report.html"
