#!/usr/bin/env bash
# The WebGPU benchmark on a GPU machine without Node.js or network, from the repository root with
# gpu-bundle/ (scripts/gpu/bundle.sh) beside it: unpacks node, the dependencies and the built
# package, installs the Vulkan loader when missing, builds the random-weight BERT-base model with
# the machine's python (torch + transformers), then runs bench/run.js on the WebGPU provider and on
# the CPU provider of the same machine. Every stage has a time limit and a log; results and logs
# go to $OUT (default gpu-out/).
#
#   bash scripts/gpu/run-bench.sh [seconds per scenario, default 3] [targets, default bert-base-random]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=${BUNDLE:-$ROOT/gpu-bundle}
OUT=${OUT:-$ROOT/gpu-out}
SECONDS_PER=${1:-3}
TARGETS=${2:-bert-base-random}
mkdir -p "$OUT"
TMP=$(mktemp -d)
cd "$ROOT" || exit 1

stage() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$OUT/stages.txt"
  return $rc
}

stage unpack 300 bash -c "
  xz -dc '$BUNDLE/node.xz' > '$TMP/node' && chmod +x '$TMP/node' &&
  tar -C '$ROOT' -xJf '$BUNDLE/node_modules.tar.xz' &&
  tar -C '$ROOT' -xJf '$BUNDLE/package.tar.xz'" || exit 1
export PATH=$TMP:$PATH
node --version >>"$OUT/stages.txt"

# Dawn loads libvulkan.so.1; the NVIDIA driver brings the ICD it points at.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  stage vulkan 120 bash -c "dpkg -x '$BUNDLE'/libvulkan1_*.deb / && ldconfig"
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd
    break
  fi
done
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}" >>"$OUT/stages.txt"
(nvidia-smi || true) >"$OUT/nvidia-smi.txt" 2>&1
(lscpu || true) >"$OUT/lscpu.txt" 2>&1

export HF_TASKS_BENCH_MODELS=$TMP/bench HF_TASKS_TOKENIZER_DIR=$BUNDLE/tokenizer
if [[ ",$TARGETS," == *",bert-base-random,"* ]]; then
  stage model 600 python3 scripts/bench/make_bert_base_bench_model.py "$TMP/bench/bert-base" || exit 1
fi

# One WebGPU call first: says plainly whether the adapter works before the long runs.
stage webgpu-check 300 node --input-type=module -e "
  const { pipeline, shutdownEngine } = await import('$ROOT/dist/index.js');
  const dir = '$ROOT/test/fixtures/models/st-encoder';
  const pipe = await pipeline('feature-extraction', dir, { device: 'webgpu', progress: false, offline: true });
  const out = await pipe('a sentence on the GPU');
  console.log('webgpu ok', JSON.stringify(out).length, 'bytes of output');
  await pipe.dispose();
  await shutdownEngine();" || exit 1

scen=latency,batch32,concurrent64
stage bench-webgpu 900 node bench/run.js --device=webgpu --seconds="$SECONDS_PER" --targets="$TARGETS" --scenarios="$scen"
stage bench-cpu 900 node bench/run.js --seconds="$SECONDS_PER" --targets="$TARGETS" --scenarios="$scen" \
  --impls=floor,hf-tasks,transformers.js
cp bench/results/results-webgpu.json bench/results/results-webgpu.md "$OUT/" 2>/dev/null
cp bench/results/results.json "$OUT/results-cpu.json" 2>/dev/null
cp bench/results/results.md "$OUT/results-cpu.md" 2>/dev/null
cat "$OUT/stages.txt"
