#!/usr/bin/env bash
# The GPU benchmark in one call (bench/gpu/suite.mjs), on a Linux x86-64 NVIDIA machine that may
# lack Node.js, network and a Vulkan loader, from the bundle bench/gpu/pack.sh writes:
#   OUT=dir bash gpu-bundle/bench/gpu/run.sh [suite options: --budget 420, --quick, --no-torch]
# Writes results.json, results.md and log.txt into $OUT (default: <bundle>/gpu-results). From a checkout
# with node installed it also runs as is (bash bench/gpu/run.sh).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${OUT:-$root/gpu-results}"
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
tools="$(mktemp -d)"
ldconfig() { command ldconfig "$@" 2>/dev/null || /sbin/ldconfig "$@"; }
unxz_to() { # xz file, destination (python3's lzma where xz is missing)
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
node="$(command -v node || true)"
if [ -f "$root/tools/node.xz" ]; then unxz_to "$root/tools/node.xz" "$tools/node" && chmod +x "$tools/node" && node="$tools/node"; fi
[ -n "$node" ] || { echo "run.sh: no node binary (run bench/gpu/pack.sh, or install Node.js)"; exit 1; }
dawn="$root/node_modules/webgpu/dist/linux-x64/dawn.node"
[ -f "$dawn" ] || unxz_to "$dawn.xz" "$dawn"

# NVIDIA's Vulkan driver (its ICD file names libGLX_nvidia, which links libGLdispatch) needs the
# Vulkan loader and libglvnd; the bundle's Debian packages supply what the machine lacks,
# unpacked into a private folder on LD_LIBRARY_PATH.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$tools}"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; done
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  icd="$(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name 'nvidia_icd*.json' 2>/dev/null | head -1 || true)"
  [ -n "$icd" ] && export VK_DRIVER_FILES="$icd"
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset, the default search}"
if [ -d "$root/tools/debs" ] && { [ -n "${NT_UNPACK_LOADER:-}" ] || ! ldconfig -p | grep -q 'libvulkan.so.1 ' || ! ldconfig -p | grep -q 'libGLdispatch.so.0 '; }; then
  for f in "$root"/tools/debs/*.deb; do dpkg-deb -x "$f" "$tools/sys"; done
  LD_LIBRARY_PATH="$tools/sys/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "Vulkan loader and libglvnd from the bundle ($tools/sys)"
fi
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"

echo "ICD files: $(find /usr/local/nvidia /usr/share/vulkan /etc/vulkan -name '*.json' 2>/dev/null | tr '\n' ' ')"
echo "libraries: $(ldconfig -p | grep -o -E 'lib(vulkan|GLdispatch|GLX_nvidia)\.so\.[0-9]+' | sort -u | tr '\n' ' ')"
smi="$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1 || true)"
echo "nvidia-smi: ${smi:-none}; node $("$node" --version)"
if ! "$node" "$root/bench/gpu/probe.mjs"; then
  # The workplace's verified fallback: the same packages unpacked over / (a throwaway machine only).
  if [ -d "$root/tools/debs" ] && [ "$(id -u)" = 0 ] && [ -n "$smi" ]; then
    echo "no adapter: unpacking the loader packages over / and retrying"
    for f in "$root"/tools/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
    "$node" "$root/bench/gpu/probe.mjs" || { echo "run.sh: still no WebGPU adapter"; exit 3; }
  else
    echo "run.sh: no WebGPU adapter"; exit 3
  fi
fi
"$node" "$root/bench/gpu/suite.mjs" --out "$out" --driver "$smi" "$@"
status=$?
# The matmul and LeNet steps again with Dawn's robust buffer access off (with it on, every storage
# index is clamped, which may keep loads from vectorizing): its cost, side by side, in
# $OUT/no-robustness (the later options win over the caller's). NT_UNSAFE_BUDGET=0 skips it.
if [ "${NT_UNSAFE_BUDGET:-150}" != 0 ]; then
  NET_TRIM_DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis,disable_robustness" "$node" "$root/bench/gpu/suite.mjs" \
    --driver "$smi" "$@" --out "$out/no-robustness" --steps matmul,lenet --no-torch --budget "${NT_UNSAFE_BUDGET:-150}"
fi
exit $status
