#!/usr/bin/env bash
# Packs what the GPU benchmark needs on a Linux x86-64 NVIDIA machine without Node.js, network or
# a Vulkan loader into gpu-bundle/ (git-ignored), under 60 MiB: this machine's node binary and the
# linux-x64 dawn.node (xz-compressed), dist/node, the bench scripts, and Debian's Vulkan loader
# with the GL dispatch libraries NVIDIA's Vulkan driver links against (as .deb files).
# Usage (on a networked machine with the project installed): bash bench/gpu/pack.sh
# Then on the GPU machine: OUT=dir bash gpu-bundle/bench/gpu/run.sh (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=gpu-bundle
npm run build >/dev/null
rm -rf "$bundle.tmp" && mkdir -p "$bundle.tmp"/{tools/debs,dist,bench/gpu,node_modules/webgpu/dist/linux-x64}
b="$bundle.tmp"
cp -r dist/node "$b/dist/"
cp bench/*.mjs bench/*.py "$b/bench/" && cp bench/gpu/*.mjs bench/gpu/run.sh "$b/bench/gpu/"
cp package.json "$b/"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$b/node_modules/webgpu/"
cp -r node_modules/commander "$b/node_modules/"
# The two large binaries, compressed (node 99 MB → ~24 MB); kept from an earlier pack when unchanged.
pack_xz() { # source, destination
  if [ -f "$bundle/$2" ] && [ "$(cat "$bundle/$2.source" 2>/dev/null)" = "$(sha256sum <"$1")" ]; then
    cp "$bundle/$2" "$bundle/$2.source" "$b/$(dirname "$2")/"
  else
    xz -T0 -6 -c "$1" >"$b/$2" && sha256sum <"$1" >"$b/$2.source"
  fi
}
pack_xz "$(command -v node)" tools/node.xz
pack_xz node_modules/webgpu/dist/linux-x64/dawn.node node_modules/webgpu/dist/linux-x64/dawn.node.xz
(cd "$b/tools/debs" && apt-get download libvulkan1 libglvnd0 libgl1 libglx0 libegl1 libgles2 libopengl0 >/dev/null)
rm -rf "$bundle" && mv "$b" "$bundle"
echo "wrote $bundle/ ($(du -sh "$bundle" | cut -f1)); on the GPU machine: OUT=dir bash $bundle/bench/gpu/run.sh"
