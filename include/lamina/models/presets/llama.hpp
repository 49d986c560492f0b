#pragma once
// The Llama family (HF LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM): pre-RMSNorm blocks of grouped-query
// attention with rotate-half RoPE and a SwiGLU MLP, final RMSNorm, LM head tied or not. What differs between the
// members is data — biases (Qwen2's q/k/v), the window (Mistral's sliding_window; 0 is full causal attention, so
// one type serves all three), RoPE base and scaling, head_dim — so they share this one type.
#include "lamina/models/block.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

using LlamaAttention = Attention<Rope<RopeLayout::rotate_half>, SlidingWindow>;
using LlamaBlock = Block<PreNorm, RmsNorm, LlamaAttention, GatedMlp>;
using Llama = DecoderOnly<TokenEmbedding, Repeat<LlamaBlock>, RmsNorm>;

}  // namespace lamina
