#!/usr/bin/env bash
# Installs, with apt, the Debian 12 packages lamina builds, tests and benchmarks with — only those missing.
set -euo pipefail
packages=(cmake g++ make libeigen3-dev xtl-dev libxsimd-dev catch2 libbenchmark-dev nlohmann-json3-dev
          libopenblas-dev python3-matplotlib
          clang-14 libclang-rt-14-dev clang-tidy-14)  # sanitizers, libFuzzer and static analysis (.ci/run)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
