#pragma once
// ModelConfig: every size a composed model reads at run time. The structure of a model is its type; these numbers
// are data, so one build runs every checkpoint of a family. Loaders fill it from config.json (defaults follow the
// Hugging Face classes); validate() rejects inconsistent sizes with the name of the offending field.
#include "lamina/core/error.hpp"
#include "lamina/kernels/activation.hpp"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace lamina {

// RoPE frequency scaling, as in transformers' rope_scaling: none, linear (positions divided by factor), llama3
// (long wavelengths divided by factor, short kept, smooth blend between low_freq_factor and high_freq_factor).
struct RopeScaling {
    enum class Kind { none, linear, llama3 } kind = Kind::none;
    float factor = 1.f;
    float low_freq_factor = 1.f, high_freq_factor = 4.f;
    int original_max_positions = 8192;
};

// How KV caches hold keys and values: f32, or int8 with one f32 scale per head and token (a quarter of the bytes,
// so four times the context in the same memory and a quarter of the cache traffic of a long-context decode step).
enum class KvPrecision : std::uint8_t { f32, int8 };

struct ModelConfig {
    int d_model = 0;
    int n_layers = 0;
    int n_heads = 0;
    int n_kv_heads = 0;  // = n_heads for MHA, 1 for MQA
    int head_dim = 0;    // independent of d_model / n_heads
    int d_ff = 0;
    int vocab_size = 0;
    int max_positions = 2048;  // context length: KV cache capacity, learned position table
    float norm_eps = 1e-5f;
    Activation activation = Activation::silu;

    // Attention details.
    bool qkv_bias = false, o_bias = false;
    float attn_scale = 0.f;    // 0: 1/sqrt(head_dim)
    float attn_softcap = 0.f;  // 0: off
    KvPrecision kv_cache = KvPrecision::f32;  // a run-time choice (hf::LoadOptions, --kv-cache), not from config.json
    int sliding_window = 0;    // 0: full causal attention
    std::vector<int> head_windows;  // per-head windows (multi-window attention); empty: sliding_window for all

    // Rotary embeddings.
    float rope_theta = 10000.f;
    int rotary_dim = 0;  // 0: head_dim
    RopeScaling rope_scaling;

    // FFN details.
    bool mlp_bias = false;
    int n_experts = 0, experts_per_token = 0;
    bool router_softmax_first = true;  // Mixtral: softmax over all experts, then top-k and renormalise
    int shared_expert_ff = 0;          // 0: no shared expert

    // Embeddings and head.
    bool tie_embeddings = false;
    int type_vocab_size = 0;  // BERT token types
    int num_labels = 0;       // sequence classification heads (BertClassifier); 0: none

    // T5 relative position buckets.
    int relative_buckets = 32, relative_max_distance = 128;

    // Encoder-decoder: the decoder's depth (n_layers is the encoder's).
    int n_decoder_layers = 0;

    // LayerTypes stacks: the block type of each layer, an index into the stack's list (Bamba: 0 Mamba, 1 attention).
    std::vector<int> layer_types;

    // Mamba.
    int ssm_state = 16, ssm_conv = 4, ssm_expand = 2, ssm_dt_rank = 0;
    // Mamba-2: d_inner / ssm_head_dim heads, whose B and C are shared by groups of heads (Mamba2Config defaults).
    int ssm_head_dim = 64, ssm_groups = 8;

    int rope_dim() const { return rotary_dim ? rotary_dim : head_dim; }
    float attention_scale() const { return attn_scale ? attn_scale : 1.f / std::sqrt(float(head_dim)); }

    void validate() const {
        auto positive = [](int v, const char* name) {
            LAMINA_CHECK(v > 0, "config: ", name, " must be positive, got ", v);
        };
        positive(d_model, "d_model");
        positive(n_layers, "n_layers");
        positive(vocab_size, "vocab_size");
        positive(max_positions, "max_positions");
        using Field = std::pair<int, const char*>;
        for (const auto& [v, name] : std::initializer_list<Field>{
                 {n_heads, "n_heads"}, {n_kv_heads, "n_kv_heads"}, {head_dim, "head_dim"}, {d_ff, "d_ff"},
                 {sliding_window, "sliding_window"}, {rotary_dim, "rotary_dim"}, {n_experts, "n_experts"},
                 {shared_expert_ff, "shared_expert_ff"}, {type_vocab_size, "type_vocab_size"},
                 {n_decoder_layers, "n_decoder_layers"}})
            LAMINA_CHECK(v >= 0, "config: ", name, " must not be negative, got ", v);
        for (const int w : head_windows) LAMINA_CHECK(w >= 0, "config: head_windows holds a negative window ", w);
        if (n_heads) {
            positive(head_dim, "head_dim");
            positive(n_kv_heads, "n_kv_heads");
            LAMINA_CHECK(n_heads % n_kv_heads == 0, "config: n_heads (", n_heads, ") is not a multiple of n_kv_heads (",
                         n_kv_heads, ")");
            LAMINA_CHECK(rope_dim() <= head_dim && rope_dim() % 2 == 0, "config: rotary_dim ", rope_dim(),
                         " must be even and at most head_dim ", head_dim);
            LAMINA_CHECK(head_windows.empty() || int(head_windows.size()) == n_heads, "config: head_windows has ",
                         head_windows.size(), " entries for ", n_heads, " heads");
        }
        LAMINA_CHECK(layer_types.empty() || int(layer_types.size()) == n_layers, "config: layer_types has ",
                     layer_types.size(), " entries for ", n_layers, " layers");
        LAMINA_CHECK(n_experts == 0 || (experts_per_token > 0 && experts_per_token <= n_experts),
                     "config: experts_per_token ", experts_per_token, " must be in 1..n_experts (", n_experts, ")");
    }
};

}  // namespace lamina
