#!/usr/bin/env bash
# demo-hub.sh — the hub step of the demo, with no internet: serve a local
# stand-in for GitHub on 127.0.0.1 (tests/hub/fake_github.py, Python stdlib)
# holding a repository with an nnkit-hub.json and a release asset made
# without torch (scripts/make-hub-demo.py), then `nnkit hub pull` from it
# through the same code path as github.com, and again offline from the cache.
#
# usage: scripts/demo-hub.sh NNKIT_BIN WORK_DIR
set -euo pipefail
nnkit=$(realpath "$1")
work=$(realpath -m "$2")
here=$(cd "$(dirname "$0")/.." && pwd)
show() { printf '$ %s\n' "$*"; "$@"; }

data="$work/hub-github"
rm -rf "$data" "$work/hub-home"
mkdir -p "$data"
python3 "$here/tests/hub/fake_github.py" "$data" --port-file "$data/url" \
  >/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$data/url" ] && break; sleep 0.05; done
base=$(cat "$data/url")
python3 "$here/scripts/make-hub-demo.py" "$data" "$base" >/dev/null

export NNKIT_HOME="$work/hub-home"
export NNKIT_GITHUB_URL="$base" NNKIT_GITHUB_API_URL="$base/api"
echo "local GitHub stand-in: $base (repository demo/lenet, release v1)"
echo "NNKIT_HOME=$NNKIT_HOME"
echo "\$ $nnkit hub pull demo/lenet lenet5 --trust"
model=$("$nnkit" hub pull demo/lenet lenet5 --trust)
echo "$model"
show "$nnkit" hub pull demo/lenet@v1 lenet5.pth
show "$nnkit" hub list
kill "$server"
wait "$server" 2>/dev/null || true
echo "(server stopped: the next pull is served from the cache)"
NNKIT_OFFLINE=1 show "$nnkit" hub pull demo/lenet lenet5 --offline
show "$nnkit" info "$model"
