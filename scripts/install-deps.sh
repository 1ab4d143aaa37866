#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages nnkit needs to build and
# run (and, with --test, to run its test suite). Idempotent: it installs only
# what is missing, runs `apt-get update` only then, and is silent otherwise.
#
# usage: scripts/install-deps.sh [--test] [--dry-run]
set -euo pipefail

want_test=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --dry-run) dry_run=1 ;;
    -h|--help)
      echo "usage: $0 [--test] [--dry-run]"
      echo "  installs nnkit's build/runtime Debian packages; --test adds the test-only ones"
      exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (expected --test or --dry-run)" >&2
       exit 2 ;;
  esac
done

# Build and runtime: compiler, CMake, the libraries nnkit links, and the
# Debian data packages the demo reads its sample images from.
build_pkgs=(
  build-essential cmake pkg-config
  libjpeg-dev libjpeg62-turbo-dev libpng-dev
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libcurl4-openssl-dev libssl-dev libarchive-dev libjson-c-dev
  ca-certificates python-matplotlib-data dataset-fashion-mnist python3
)
# Test-only: the PyTorch/ONNX references, ONNX's conformance data, and Node
# for the interop consumers.
test_pkgs=(
  python3-torch python3-torchvision python3-numpy python3-onnx
  libonnx-testdata python3-pil nodejs npm openssl
)

pkgs=("${build_pkgs[@]}")
if [ "$want_test" = 1 ]; then
  pkgs+=("${test_pkgs[@]}")
fi

# One dpkg-query for everything: the installed packages, plus the names
# they provide (a nodejs build that bundles npm provides "npm", and
# installing Debian's npm beside it would conflict).
installed=" "
scan_installed() {
  installed=" "
  local status name prov p
  while read -r status name prov; do
    case "$status" in
      ii|hi) ;;
      *) continue ;;
    esac
    installed+="${name%%:*} "
    [ -n "$prov" ] || continue
    # "a (= 1), b, c" -> "a b c"
    prov=$(printf '%s' "$prov" | sed -e 's/([^)]*)//g' -e 's/,/ /g')
    for p in $prov; do installed+="$p "; done
  done < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null || true)
}

is_installed() {
  case "$installed" in *" $1 "*) return 0 ;; esac
  return 1
}

scan_installed
missing=()
for p in "${pkgs[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
if [ "$dry_run" = 1 ]; then
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "install-deps.sh: not root and sudo is not available; install as root: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"

# Check that everything asked for is now there.
scan_installed
still=()
for p in "${missing[@]}"; do
  is_installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
  echo "install-deps.sh: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
echo "install-deps.sh: done"
