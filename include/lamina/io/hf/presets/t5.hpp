#pragma once
// T5 (transformers' T5Config / T5ForConditionalGeneration). One model_type covers two structures: feed_forward_proj
// "relu" (or "gelu") is T5DenseActDense — T5 v1.0 — and "gated-<act>" is T5DenseGatedActDense — T5 v1.1, Flan-T5 —
// so each preset accepts only its kind. HF keeps each stack's relative-position table in its layer 0.
#include "lamina/io/hf/preset.hpp"
#include "lamina/models/presets/t5.hpp"

namespace lamina::hf {

namespace detail {

inline bool t5_gated(const ConfigJson& j) {
    return j.get<std::string>("feed_forward_proj", "relu").starts_with("gated-");
}

inline ModelConfig t5_config(const ConfigJson& j) {
    const auto s = require_core(j, "d_model", "num_layers", "num_heads");
    ModelConfig c;
    c.d_model = s.d_model, c.n_layers = s.n_layers, c.n_heads = c.n_kv_heads = s.n_heads;
    c.vocab_size = s.vocab_size;
    c.head_dim = j.get<int>("d_kv", 64);  // independent of d_model / num_heads
    c.d_ff = j.get<int>("d_ff", 2048);
    c.n_decoder_layers = j.get<int>("num_decoder_layers", s.n_layers);
    c.relative_buckets = j.get<int>("relative_attention_num_buckets", 32);
    c.relative_max_distance = j.get<int>("relative_attention_max_distance", 128);
    c.norm_eps = j.get<float>("layer_norm_epsilon", 1e-6f);
    c.attn_scale = 1.f;  // T5Attention does not scale scores by 1/sqrt(d_kv)
    c.tie_embeddings = j.get<bool>("tie_word_embeddings", true);
    // Relative positions set no limit; n_positions (512 in T5Config) bounds the caches.
    c.max_positions = j.get<int>("n_positions", 512);
    // T5Config: the activation is the part after "gated-"; "gated-gelu" means gelu_new for backward compatibility.
    const std::string proj = j.get<std::string>("feed_forward_proj", "relu");
    const std::string act = proj == "gated-gelu" ? "gelu_new" : proj.substr(proj.find('-') + 1);
    if (proj.find('-') != std::string::npos && !proj.starts_with("gated-"))
        j.unsupported("feed_forward_proj", "\"", proj, "\" is neither <act> nor gated-<act>");
    // The activation's name checked by the one ACT2FN mapping, errors still naming feed_forward_proj.
    c.activation = activation(ConfigJson(nlohmann::json{{"feed_forward_proj", act}}, j.where()), "feed_forward_proj", act);
    return c;
}

inline NameTable t5_names(bool gated) {
    std::vector<Rule> r = {{"embed.tokens", "shared.weight"},
                           {"encoder.relative_bias", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"},
                           {"decoder.relative_bias", "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"},
                           {"encoder.final_norm.weight", "encoder.final_layer_norm.weight"},
                           {"decoder.final_norm.weight", "decoder.final_layer_norm.weight"},
                           {"lm_head.weight", "lm_head.weight"}};
    const auto attention = [&](const std::string& lamina, const std::string& hf) {
        for (const std::string p : {"q", "k", "v", "o"}) r.push_back({lamina + "." + p + ".weight", hf + "." + p + ".weight"});
    };
    const auto ffn = [&](const std::string& lamina, const std::string& hf) {
        const std::string mlp = hf + ".DenseReluDense.";
        if (gated) {
            r.push_back({lamina + ".gate.weight", mlp + "wi_0.weight"});
            r.push_back({lamina + ".up.weight", mlp + "wi_1.weight"});
        } else {
            r.push_back({lamina + ".up.weight", mlp + "wi.weight"});
        }
        r.push_back({lamina + ".down.weight", mlp + "wo.weight"});
    };
    // T5Block: encoder layer.0 self-attention, layer.1 FFN; decoder layer.0 self, layer.1 cross, layer.2 FFN.
    r.push_back({"encoder.layers.#.mixer_norm.weight", "encoder.block.#.layer.0.layer_norm.weight"});
    attention("encoder.layers.#.mixer", "encoder.block.#.layer.0.SelfAttention");
    r.push_back({"encoder.layers.#.ffn_norm.weight", "encoder.block.#.layer.1.layer_norm.weight"});
    ffn("encoder.layers.#.ffn", "encoder.block.#.layer.1");
    r.push_back({"decoder.layers.#.self_norm.weight", "decoder.block.#.layer.0.layer_norm.weight"});
    attention("decoder.layers.#.self_attn", "decoder.block.#.layer.0.SelfAttention");
    r.push_back({"decoder.layers.#.cross_norm.weight", "decoder.block.#.layer.1.layer_norm.weight"});
    attention("decoder.layers.#.cross_attn", "decoder.block.#.layer.1.EncDecAttention");
    r.push_back({"decoder.layers.#.ffn_norm.weight", "decoder.block.#.layer.2.layer_norm.weight"});
    ffn("decoder.layers.#.ffn", "decoder.block.#.layer.2");
    return NameTable({""}, std::move(r));
}

}  // namespace detail

struct T5v10 {
    using Model = EncoderDecoderModel<lamina::T5v10>;
    static constexpr std::string_view model_type = "t5", name = "T5 v1.0 (ReLU MLP)";
    static constexpr bool learned_positions = false;
    static bool accepts(const ConfigJson& j) { return !detail::t5_gated(j); }
    static ModelConfig config(const ConfigJson& j) { return detail::t5_config(j); }
    static const NameTable& names() {
        static const NameTable table = detail::t5_names(false);
        return table;
    }
};

struct T5v11 {
    using Model = EncoderDecoderModel<lamina::T5v11>;
    static constexpr std::string_view model_type = "t5", name = "T5 v1.1 (gated MLP)";
    static constexpr bool learned_positions = false;
    static bool accepts(const ConfigJson& j) { return detail::t5_gated(j); }
    static ModelConfig config(const ConfigJson& j) { return detail::t5_config(j); }
    static const NameTable& names() {
        static const NameTable table = detail::t5_names(true);
        return table;
    }
};

}  // namespace lamina::hf
