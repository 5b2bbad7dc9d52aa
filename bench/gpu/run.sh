#!/usr/bin/env bash
# Runs the benchmark suite on an NVIDIA GPU through Dawn's Vulkan backend, from the tarball that
# bench/gpu/pack.sh made. Extra arguments go to bench/run.mjs (e.g. --torch, --problems ...).
# Writes bench/results-gpu.json and prints the table.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export LD_LIBRARY_PATH="$root/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  icd="$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1 || true)"
  [ -n "$icd" ] || { echo "no nvidia_icd.json found: set VK_DRIVER_FILES to the NVIDIA Vulkan driver's ICD file" >&2; exit 1; }
  export VK_DRIVER_FILES="$icd"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
node="$root/node"; [ -x "$node" ] || node="$(command -v node)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$node" bench/run.mjs --no-cpu --json bench/results-gpu.json "$@"
