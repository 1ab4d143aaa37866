#!/bin/sh
# install-ort.sh DIR — install onnxruntime-node (pinned) from the npm
# registry into DIR/node_modules for bench/bench.py; a no-op when that
# version is already there. ONNXRUNTIME_NODE_INSTALL=skip keeps its install
# script from fetching GPU libraries outside the registry (the CPU library
# ships in the package).
set -eu
DIR=$1
VERSION=1.30.0
PJ="$DIR/node_modules/onnxruntime-node/package.json"
if [ -f "$PJ" ] && grep -q "\"version\": \"$VERSION\"" "$PJ"; then
  echo "onnxruntime-node $VERSION already in $DIR"
  exit 0
fi
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"nnkit-bench","private":true}' >package.json
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --save-exact \
  "onnxruntime-node@$VERSION" >/dev/null
echo "onnxruntime-node $VERSION installed in $DIR"
