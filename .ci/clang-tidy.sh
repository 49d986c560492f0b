#!/usr/bin/env bash
# Runs clang-tidy (configuration: .clang-tidy) over the fuzz targets: together they include every lamina header
# (model_forward.cpp includes lamina/lamina.hpp) and instantiate the parsers and a composed model. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
units=(tests/fuzz/model_forward.cpp tests/fuzz/safetensors_header.cpp tests/fuzz/config_json.cpp tests/fuzz/tokenizer_json.cpp
       tests/fuzz/tokenizer_encode.cpp)
printf '%s\n' "${units[@]}" | xargs -P 2 -I{} clang-tidy-14 --quiet {} -- -std=c++20 -Iinclude -Itests/fuzz \
  -isystem /usr/include/eigen3 -march=x86-64-v3 -DLAMINA_FIXTURE_DIR=\"tests/reference/fixtures\"
