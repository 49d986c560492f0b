#pragma once
// The Llama family: Llama 2/3 (LlamaConfig), Mistral (MistralConfig) and Qwen2 (Qwen2Config) — one composed type
// (models/presets/llama.hpp), one name table, three config mappings with their classes' defaults.
// LlamaForCausalLM saves the backbone under "model." and the head as "lm_head.weight"; a bare LlamaModel saves
// the backbone without the prefix.
#include "lamina/io/hf/preset.hpp"
#include "lamina/models/presets/llama.hpp"

namespace lamina::hf {

namespace detail {

// Defaults that differ between the configuration classes of the family.
struct LlamaDefaults {
    int kv_heads = 0;  // 0: num_attention_heads
    int max_positions;
    float norm_eps, rope_theta;
};

inline ModelConfig llama_family_config(const ConfigJson& j, const LlamaDefaults& d) {
    const auto s = require_core(j, "hidden_size", "num_hidden_layers", "num_attention_heads");
    ModelConfig c;
    c.d_model = s.d_model, c.n_layers = s.n_layers, c.n_heads = s.n_heads, c.vocab_size = s.vocab_size;
    c.n_kv_heads = j.get<int>("num_key_value_heads", d.kv_heads ? d.kv_heads : s.n_heads);
    c.head_dim = j.get<int>("head_dim", s.d_model / s.n_heads);
    c.d_ff = j.require<int>("intermediate_size");
    c.max_positions = j.get<int>("max_position_embeddings", d.max_positions);
    c.norm_eps = j.get<float>("rms_norm_eps", d.norm_eps);
    c.activation = activation(j, "hidden_act", "silu");
    c.tie_embeddings = j.get<bool>("tie_word_embeddings", false);
    read_rope(j, c, d.rope_theta);
    return c;
}

// q, k, v, o projections and the norms of a Llama-style decoder layer, shared by Llama and Mixtral.
inline std::vector<Rule> llama_attention_rules() {
    std::vector<Rule> r = {{"embed.tokens", "embed_tokens.weight"},
                           {"final_norm.weight", "norm.weight"},
                           {"lm_head.weight", "lm_head.weight", Layout::out_in, 0, 1, false},
                           {"layers.#.mixer_norm.weight", "layers.#.input_layernorm.weight"},
                           {"layers.#.ffn_norm.weight", "layers.#.post_attention_layernorm.weight"}};
    for (const std::string p : {"q", "k", "v", "o"})
        for (const std::string w : {".weight", ".bias"})
            r.push_back({"layers.#.mixer." + p + w, "layers.#.self_attn." + p + "_proj" + w});
    return r;
}

}  // namespace detail

struct Llama {
    using Model = lamina::Model<lamina::Llama>;
    static constexpr std::string_view model_type = "llama", name = "Llama";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        ModelConfig c = detail::llama_family_config(j, {.max_positions = 2048, .norm_eps = 1e-6f, .rope_theta = 10000.f});
        c.qkv_bias = c.o_bias = j.get<bool>("attention_bias", false);
        c.mlp_bias = j.get<bool>("mlp_bias", false);
        return c;
    }
    static const NameTable& names() {
        static const NameTable table = [] {
            auto r = detail::llama_attention_rules();
            for (const std::string p : {"gate", "up", "down"})
                for (const std::string w : {".weight", ".bias"})
                    r.push_back({"layers.#.ffn." + p + w, "layers.#.mlp." + p + "_proj" + w});
            return NameTable({"model.", ""}, std::move(r));
        }();
        return table;
    }
};

// Mistral: Llama with GQA (8 KV heads) and a sliding window by default; null sliding_window is full attention.
struct Mistral {
    using Model = Llama::Model;
    static constexpr std::string_view model_type = "mistral", name = "Mistral";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        ModelConfig c = detail::llama_family_config(
            j, {.kv_heads = 8, .max_positions = 4096 * 32, .norm_eps = 1e-6f, .rope_theta = 10000.f});
        c.sliding_window = j.json().contains("sliding_window") ? j.get<int>("sliding_window", 0) : 4096;
        return c;
    }
    static const NameTable& names() { return Llama::names(); }
};

// Qwen2: biases on q, k, v (not o); a sliding window only with use_sliding_window, and then only in layers from
// max_window_layers on (Qwen2Config's layer_types) — lamina runs one window for all layers, so a mix is refused.
struct Qwen2 {
    using Model = Llama::Model;
    static constexpr std::string_view model_type = "qwen2", name = "Qwen2";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        ModelConfig c = detail::llama_family_config(
            j, {.kv_heads = 32, .max_positions = 32768, .norm_eps = 1e-6f, .rope_theta = 10000.f});
        c.qkv_bias = true;
        if (j.get<bool>("use_sliding_window", false) && j.has("sliding_window")) {
            const int first = j.get<int>("max_window_layers", 28);
            if (first < c.n_layers) {
                if (first > 0)
                    j.unsupported("max_window_layers", first, " < num_hidden_layers ", c.n_layers,
                                  ": full attention below, a sliding window above is not supported");
                c.sliding_window = j.require<int>("sliding_window");
            }
        }
        return c;
    }
    static const NameTable& names() { return Llama::names(); }
};

}  // namespace lamina::hf
