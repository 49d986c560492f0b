#pragma once
// The presets hf::with_model dispatches over by config.json's model_type. Adding a family: write its page in
// io/hf/presets/, include it here and list it in DefaultPresets.
#include "lamina/io/hf/presets/bert.hpp"
#include "lamina/io/hf/presets/gpt2.hpp"
#include "lamina/io/hf/presets/llama.hpp"
#include "lamina/io/hf/presets/mamba.hpp"
#include "lamina/io/hf/presets/mixtral.hpp"
#include "lamina/io/hf/presets/t5.hpp"

namespace lamina::hf {

using DefaultPresets = PresetList<Gpt2, Llama, Mistral, Qwen2, Mixtral, Bert, T5v10, T5v11, Mamba, Mamba2, Bamba>;

}  // namespace lamina::hf
