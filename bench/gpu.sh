#!/usr/bin/env bash
# The kernel bench table (bench/kernels.bench.ts) on the webgpu backend, for a machine with a
# GPU: gpu.js's WebGPU mode through Dawn's Node bindings (dawn-webgpu) on the GPU's Vulkan
# driver. Writes bench/RESULTS-webgpu.md (+ .svg), with a per-kernel webgpu-vs-webasm section
# (time ratio, share of outputs bit-identical). Extra arguments go to the bench
# (e.g. --quick, --lengths 4096,8192).
#
# Needs: npm install (dawn-webgpu), the Vulkan loader (libvulkan1) and the GPU's Vulkan driver
# registered (/usr/share/vulkan/icd.d or /etc/vulkan/icd.d; NVIDIA: nvidia_icd.json from the
# driver's libnvidia-gl / nvidia-vulkan-icd package). Without a hardware adapter it says so and
# stops, unless ALLOW_SOFTWARE=1 (SwiftShader / lavapipe: runs, slowly).
set -euo pipefail
cd "$(dirname "$0")/.."
info=$(node --import tsx -e "
import('./kernels/runtime.ts').then(async (r) => {
  const a = await r.webgpuAdapterInfo();
  console.log(a ? (a.software ? 'software ' : 'hardware ') + a.name : 'none');
  process.exit(0);
});")
echo "webgpu adapter: $info"
case "$info" in
  hardware*) ;;
  software*)
    if [ "${ALLOW_SOFTWARE:-0}" != 1 ]; then
      echo "bench/gpu.sh: Dawn found only a software adapter (no GPU Vulkan driver registered); set ALLOW_SOFTWARE=1 to bench it anyway" >&2
      exit 1
    fi ;;
  *)
    echo "bench/gpu.sh: Dawn found no WebGPU adapter: npm install (dawn-webgpu), apt-get install libvulkan1 and the GPU's Vulkan driver" >&2
    exit 1 ;;
esac
ANCHOR_BACKEND=webgpu exec npx tsx bench/kernels.bench.ts --out bench/RESULTS-webgpu.md "$@"
