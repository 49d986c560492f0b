#pragma once
// The five model shapes of the end-to-end benchmarks (and compare_pytorch.py), composed from lamina's primitives and
// sized like the public checkpoints they stand for. Weights come from RandomSource, so nothing is downloaded.
// The types are the Hugging Face presets' (models/presets/); the configs are the checkpoints' sizes, except that
// max_positions is ≥ 2048 + the decode steps even where the checkpoint has fewer.
#include "lamina/lamina.hpp"

#include <string_view>

namespace lamina::bench {

// How a model is driven follows its lamina::ModelKind: a causal LM prefills a prompt, then one token per step; an
// encoder makes one pass over the input; an encoder-decoder encodes the source, then decodes one token per step.

// Decoder contexts of the decode benchmarks go up to 2048 tokens, plus the timed steps.
inline constexpr int kBenchContext = 2048 + 256;

// GPT-2 small (124M): learned positions, pre-norm LayerNorm, biases, tanh-GELU MLP, tied head.
using Gpt2Arch = Gpt2;
inline ModelConfig gpt2_small_config() {
    ModelConfig c;
    c.d_model = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12, c.head_dim = 64, c.d_ff = 3072;
    c.vocab_size = 50257, c.max_positions = kBenchContext, c.activation = Activation::gelu_tanh;
    c.qkv_bias = c.o_bias = c.mlp_bias = true, c.tie_embeddings = true;
    return c;
}

// A Llama-shaped 0.5B (495M parameters): RMSNorm, RoPE, grouped-query attention (20 query heads over 4 K/V heads),
// SwiGLU, untied head. Between TinyLlama and Qwen2-0.5B in shape, with Llama-2's 32000-token vocabulary.
using LlamaArch = Llama;
inline ModelConfig llama_0_5b_config() {
    ModelConfig c;
    c.d_model = 1280, c.n_layers = 24, c.n_heads = 20, c.n_kv_heads = 4, c.head_dim = 64, c.d_ff = 3456;
    c.vocab_size = 32000, c.max_positions = kBenchContext, c.activation = Activation::silu, c.norm_eps = 1e-6f;
    return c;
}

// BERT-base (110M): post-norm LayerNorm encoder, token + position + type embeddings, erf-GELU MLP.
using BertArch = Bert;
inline ModelConfig bert_base_config() {
    ModelConfig c;
    c.d_model = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12, c.head_dim = 64, c.d_ff = 3072;
    c.vocab_size = 30522, c.max_positions = 512, c.type_vocab_size = 2, c.activation = Activation::gelu_erf;
    c.qkv_bias = c.o_bias = c.mlp_bias = true, c.norm_eps = 1e-12f;
    return c;
}

// T5-small (60M): 6 + 6 layers, RMSNorm, relative position buckets, ReLU MLP, tied and rescaled head.
using T5Arch = T5v10;
inline ModelConfig t5_small_config() {
    ModelConfig c;
    c.d_model = 512, c.n_layers = 6, c.n_decoder_layers = 6, c.n_heads = 8, c.n_kv_heads = 8, c.head_dim = 64;
    c.d_ff = 2048, c.vocab_size = 32128, c.max_positions = kBenchContext, c.activation = Activation::relu;
    c.attn_scale = 1.f, c.norm_eps = 1e-6f, c.tie_embeddings = true;
    return c;
}
// T5-small's decoder alone, without cross-attention: the decoder-only yardstick of the encoder-decoder's decode
// step (which must not recompute the encoder, so it should cost about as much).
using T5DecoderOnlyArch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Attention<NoPositions, Causal>, Mlp>>,
                                      RmsNorm>;

// Mamba-130M: 24 Mamba-1 mixers (d_inner 1536, state 16, conv 4, dt_rank 48), RMSNorm, tied head.
using MambaArch = Mamba1Lm;
inline ModelConfig mamba_130m_config() {
    ModelConfig c;
    c.d_model = 768, c.n_layers = 24, c.vocab_size = 50280, c.max_positions = kBenchContext;
    c.ssm_state = 16, c.ssm_conv = 4, c.ssm_expand = 2, c.tie_embeddings = true;
    return c;
}

// Calls fn(name, kind, config, std::type_identity<Arch>{}) for every benchmark model, in a fixed order.
template <class Fn>
void for_each_bench_model(Fn&& fn) {
    fn(std::string_view("gpt2"), ModelKind::causal_lm, gpt2_small_config(), std::type_identity<Gpt2Arch>{});
    fn(std::string_view("llama_0.5b"), ModelKind::causal_lm, llama_0_5b_config(), std::type_identity<LlamaArch>{});
    fn(std::string_view("bert_base"), ModelKind::encoder, bert_base_config(), std::type_identity<BertArch>{});
    fn(std::string_view("t5_small"), ModelKind::encoder_decoder, t5_small_config(), std::type_identity<T5Arch>{});
    fn(std::string_view("t5_small_decoder"), ModelKind::causal_lm, t5_small_config(),
       std::type_identity<T5DecoderOnlyArch>{});
    fn(std::string_view("mamba_130m"), ModelKind::causal_lm, mamba_130m_config(), std::type_identity<MambaArch>{});
}

}  // namespace lamina::bench
