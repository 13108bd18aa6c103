#!/usr/bin/env bash
# Packs what a GPU machine without Node.js or network needs to run the WebGPU benchmark
# (scripts/gpu/run-bench.sh there), into gpu-bundle/ (ignored by git; well under 64 MiB):
#   node.xz                the local node binary
#   node_modules.tar.xz    the production dependencies plus benchmark and transformers.js, other
#                          platforms' onnxruntime binaries and the browser-only files left out
#   libvulkan1_*.deb       the Vulkan loader (Dawn needs it; the GPU driver brings its ICD)
#   tokenizer/             the uncased WordPiece files the random-weight BERT-base model uses
#   package.tar.xz         the built package: dist/ and native/
#
#   npm run build && bash scripts/gpu/bundle.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/gpu-bundle}
[ -f "$ROOT/dist/index.js" ] && ls "$ROOT"/native/*.node >/dev/null || { echo "build first: npm run build" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "node: $(node --version)"
xz -9 -T0 -c "$(command -v node)" > "$OUT/node.xz"

# The same versions as this checkout's lockfile.
version() { node -p "require('$ROOT/node_modules/$1/package.json').version"; }
deps=$(node -p "Object.entries(require('$ROOT/package.json').dependencies).map(([k, v]) => k + '@' + v).join(' ')")
mkdir -p "$WORK/app" && cd "$WORK/app"
echo '{"name":"gpu-bench","private":true}' > package.json
# shellcheck disable=SC2086
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
  $deps "benchmark@$(version benchmark)" "@huggingface/transformers@$(version @huggingface/transformers)"
nm=$WORK/app/node_modules
# onnxruntime-node ships every platform's binaries; the GPU machine is linux/x64.
find "$nm" -type d -path '*/onnxruntime-node/bin/napi-v*' -name 'napi-v*' | while read -r d; do
  find "$d" -mindepth 1 -maxdepth 1 -type d ! -name linux -exec rm -rf {} +
  find "$d" -mindepth 2 -maxdepth 2 -type d ! -name x64 -exec rm -rf {} +
done
# Browser-only files: onnxruntime-web's WebAssembly builds and transformers.js' web bundles.
find "$nm" -name '*.wasm' -delete
# transformers.js imports onnxruntime-web/webgpu at load (Node then runs onnxruntime-node).
find "$nm/onnxruntime-web/dist" -type f ! -name 'ort.webgpu.*' -delete
find "$nm" -type d \( -name test -o -name tests \) -prune -exec rm -rf {} +
rm -rf "$nm/@huggingface/transformers/src" "$nm/@huggingface/transformers/types"
find "$nm/@huggingface/transformers/dist" -type f ! -name 'transformers.node.mjs' ! -name 'transformers.node.cjs' -delete
tar -C "$WORK/app" -cf - node_modules | xz -9 -T0 > "$OUT/node_modules.tar.xz"
# The built package (ignored by git, so it travels here).
tar -C "$ROOT" -cf - dist native | xz -9 -T0 > "$OUT/package.tar.xz"

# The Vulkan loader as a Debian package (unpacked there with dpkg -x).
(cd "$OUT" && apt-get download libvulkan1 >/dev/null)

# Tokenizer files of the random-weight BERT-base model (all-MiniLM-L6-v2's uncased vocabulary).
hub=${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
repo="$hub/models--sentence-transformers--all-MiniLM-L6-v2"
snap="$repo/snapshots/$(cat "$repo/refs/main")"
mkdir -p "$OUT/tokenizer"
for f in tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt; do cp "$snap/$f" "$OUT/tokenizer/"; done

du -sh "$OUT"/*
du -sh "$OUT"
