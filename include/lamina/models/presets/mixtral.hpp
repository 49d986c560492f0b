#pragma once
// Mixtral (HF MixtralForCausalLM): the Llama/Mistral block with its SwiGLU MLP replaced by a sparse mixture of
// SwiGLU experts, top-k routed with softmax over all experts then renormalised (layers/moe.hpp's TopKRouter).
#include "lamina/layers/moe.hpp"
#include "lamina/models/presets/llama.hpp"

namespace lamina {

using MixtralBlock = Block<PreNorm, RmsNorm, LlamaAttention, Moe<TopKRouter>>;
using Mixtral = DecoderOnly<TokenEmbedding, Repeat<MixtralBlock>, RmsNorm>;

}  // namespace lamina
