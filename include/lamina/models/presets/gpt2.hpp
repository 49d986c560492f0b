#pragma once
// GPT-2 (HF GPT2LMHeadModel): learned absolute positions added to the token embedding, pre-LayerNorm blocks of
// multi-head causal attention (no rotary) and a GELU MLP, all projections with biases, a final LayerNorm and — in
// every released checkpoint — an LM head tied to the token embedding. Sizes and the activation are config data.
#include "lamina/models/block.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

using Gpt2Block = Block<PreNorm, LayerNorm, Attention<NoPositions, Causal>, Mlp>;
using Gpt2 = DecoderOnly<TokenPositionEmbedding, Repeat<Gpt2Block>, LayerNorm>;

}  // namespace lamina
