#!/usr/bin/env bash
# Packs everything the benchmark needs on a GPU machine that may have no Node.js and no network:
# the built project with node_modules, this machine's node binary, and Debian's Vulkan loader.
# Usage (on a networked machine with the project installed): bash bench/gpu/pack.sh [out.tgz]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$PWD/net-trim-bench.tgz}"
npm run build >/dev/null
stage="$(mktemp -d)"
cp "$(command -v node)" "$stage/node"
(cd "$stage" && apt-get download libvulkan1 >/dev/null && dpkg-deb -x libvulkan1_*.deb vulkan && rm libvulkan1_*.deb)
tar czf "$out" --exclude=.git --exclude=test-artifacts . -C "$stage" node vulkan
rm -rf "$stage"
echo "wrote $out ($(du -h "$out" | cut -f1)); on the GPU machine: mkdir nt && tar xzf $(basename "$out") -C nt && bash nt/bench/gpu/run.sh"
