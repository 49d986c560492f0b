#!/usr/bin/env bash
# Runs clang-tidy (configuration: .clang-tidy) over translation units that together include every lamina header:
# the examples (the umbrella header, a composed model) and the fuzz targets (the io layer). Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
units=(examples/compose.cpp examples/linear.cpp tests/fuzz/safetensors_header.cpp tests/fuzz/tokenizer_json.cpp
       tests/fuzz/tokenizer_encode.cpp tests/fuzz/model_forward.cpp)
printf '%s\n' "${units[@]}" | xargs -P 2 -I{} clang-tidy-14 --quiet {} -- -std=c++20 -Iinclude -Itests/fuzz \
  -isystem /usr/include/eigen3 -march=x86-64-v3 -DLAMINA_FIXTURE_DIR=\"tests/reference/fixtures\"
