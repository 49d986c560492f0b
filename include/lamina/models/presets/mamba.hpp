#pragma once
// State-space language models (HF MambaForCausalLM, Mamba2ForCausalLM, BambaForCausalLM):
//   Mamba   pre-RMSNorm blocks of a Mamba-1 mixer alone (no MLP), final RMSNorm, LM head (tied by default)
//   Mamba2  the same with the Mamba-2 (SSD) mixer
//   Bamba   hybrid: each layer is x += mixer(RMSNorm(x)), x += SwiGLU(RMSNorm(x)), the mixer a Mamba-2 or a GQA
//           attention with rotary on part of each head, chosen per layer by config.layer_types (HF's
//           attn_layer_indices, an arbitrary list) — 0 Mamba-2, 1 attention.
#include "lamina/layers/mamba.hpp"
#include "lamina/models/block.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

using Mamba1Lm = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba, NoFfn>>, RmsNorm>;
using Mamba2Lm = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba2, NoFfn>>, RmsNorm>;

using BambaMambaBlock = Block<PreNorm, RmsNorm, Mamba2, GatedMlp>;
using BambaAttentionBlock = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>;
using Bamba = DecoderOnly<TokenEmbedding, LayerTypes<BambaMambaBlock, BambaAttentionBlock>, RmsNorm>;

}  // namespace lamina
