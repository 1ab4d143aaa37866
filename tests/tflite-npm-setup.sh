#!/bin/sh
# tflite-npm-setup.sh PREFIX — installs the test set-up's npm packages into
# PREFIX (in the build tree): the real TFLite interpreter (@litertjs/core)
# and a .tflite model written by someone else (@mediapipe/face_detection
# ships face_detection_short_range.tflite). Pinned versions; nothing is
# fetched when they are already there.
set -eu
prefix=$1
core=@litertjs/core@2.5.3
face=@mediapipe/face_detection@0.4.1657300184
have() { # have DIR VERSION
  [ -f "$prefix/node_modules/$1/package.json" ] &&
    grep -q "\"version\": \"$2\"" "$prefix/node_modules/$1/package.json"
}
if have @litertjs/core 2.5.3 && have @mediapipe/face_detection 0.4.1657300184; then
  echo "tflite-npm-setup: $core and $face already in $prefix"
  exit 0
fi
command -v npm >/dev/null || { echo "tflite-npm-setup: npm not found (scripts/install-deps.sh --test installs nodejs and npm)" >&2; exit 1; }
mkdir -p "$prefix"
[ -f "$prefix/package.json" ] || echo '{"name":"nnkit-tflite-tests","private":true}' >"$prefix/package.json"
npm install --prefix "$prefix" --no-audit --no-fund --save-exact "$core" "$face"
have @litertjs/core 2.5.3 || { echo "tflite-npm-setup: $core did not install" >&2; exit 1; }
echo "tflite-npm-setup: installed $core and $face into $prefix"
