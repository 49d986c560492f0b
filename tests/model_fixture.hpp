#pragma once
// Golden fixtures written by tests/reference/*.py: weights under lamina's own paths, the model's config as JSON in
// the safetensors metadata, inputs and expected outputs.
#include "lamina/core/tensor.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/io/safetensors.hpp"
#include "lamina/models/config.hpp"

#include <string>

#ifndef LAMINA_FIXTURE_DIR
#error "LAMINA_FIXTURE_DIR must name tests/reference/fixtures"
#endif

namespace lamina::test {

// The logits of every position of ids, fed to a fresh session of a decoder in chunks of at most max_chunk tokens.
template <class M>
std::vector<float> logits_of(const M& model, std::span<const std::int32_t> ids, std::int64_t max_chunk,
                             ThreadPool* pool = nullptr) {
    const std::int64_t T = std::int64_t(ids.size()), V = model.config().vocab_size;
    auto session = model.session(max_chunk);
    std::vector<float> out(std::size_t(T * V));
    model.forward(session, ids, TensorView<float>(out.data(), {T, V}), pool);
    return out;
}

// Token ids stored as I64 (torch's default integer type) in a fixture.
inline std::vector<std::int32_t> read_ids(const Safetensors& file, const std::string& name) {
    const auto& e = file.at(name);
    std::vector<std::int32_t> out(std::size_t(e.numel()));
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::int64_t v;
        std::memcpy(&v, e.bytes.data() + 8 * i, 8);
        out[i] = std::int32_t(v);
    }
    return out;
}

// A TensorSource over a fixture file: tensors by lamina path, shapes checked.
struct FixtureSource {
    Safetensors file;
    explicit FixtureSource(const std::string& name) : file(Safetensors::open(std::string(LAMINA_FIXTURE_DIR) + "/" + name + ".safetensors")) {}
    explicit FixtureSource(Safetensors f) : file(std::move(f)) {}  // a fixture-style file anywhere
    bool has(const std::string& n) const { return file.contains(n); }
    std::vector<float> read(const std::string& n, std::span<const std::int64_t> shape) const { return file.to_f32(n, shape); }

    std::vector<std::int32_t> ids(const std::string& n) const { return read_ids(file, n); }

    ModelConfig config() const {
        const auto j = nlohmann::json::parse(file.metadata().at("config"));
        ModelConfig c;
        auto get = [&](const char* key, auto& field) {
            if (j.contains(key)) field = j.at(key).get<std::decay_t<decltype(field)>>();
        };
        get("d_model", c.d_model);
        get("n_layers", c.n_layers);
        get("n_heads", c.n_heads);
        get("n_kv_heads", c.n_kv_heads);
        get("head_dim", c.head_dim);
        get("d_ff", c.d_ff);
        get("vocab_size", c.vocab_size);
        get("max_positions", c.max_positions);
        get("norm_eps", c.norm_eps);
        get("rope_theta", c.rope_theta);
        get("rotary_dim", c.rotary_dim);
        get("tie_embeddings", c.tie_embeddings);
        get("type_vocab_size", c.type_vocab_size);
        get("qkv_bias", c.qkv_bias);
        get("o_bias", c.o_bias);
        get("mlp_bias", c.mlp_bias);
        get("sliding_window", c.sliding_window);
        get("attn_scale", c.attn_scale);
        get("attn_softcap", c.attn_softcap);
        get("n_decoder_layers", c.n_decoder_layers);
        get("relative_buckets", c.relative_buckets);
        get("relative_max_distance", c.relative_max_distance);
        get("ssm_state", c.ssm_state);
        get("ssm_conv", c.ssm_conv);
        get("ssm_expand", c.ssm_expand);
        get("ssm_dt_rank", c.ssm_dt_rank);
        get("ssm_head_dim", c.ssm_head_dim);
        get("ssm_groups", c.ssm_groups);
        get("n_experts", c.n_experts);
        get("experts_per_token", c.experts_per_token);
        get("router_softmax_first", c.router_softmax_first);
        get("shared_expert_ff", c.shared_expert_ff);
        get("head_windows", c.head_windows);
        if (j.contains("rope_scaling")) {
            const auto& r = j.at("rope_scaling");
            c.rope_scaling.kind = r.at("type") == "linear" ? RopeScaling::Kind::linear : RopeScaling::Kind::llama3;
            c.rope_scaling.factor = r.at("factor").get<float>();
            c.rope_scaling.low_freq_factor = r.value("low_freq_factor", 1.f);
            c.rope_scaling.high_freq_factor = r.value("high_freq_factor", 4.f);
            c.rope_scaling.original_max_positions = r.value("original_max_positions", 8192);
        }
        if (j.contains("layer_windows")) c.sliding_window = j.at("layer_windows").at(0).get<int>();
        const std::string act = j.value("activation", "silu");
        for (auto a : {Activation::identity, Activation::relu, Activation::gelu_tanh, Activation::gelu_erf, Activation::silu})
            if (activation_name(a) == act) c.activation = a;
        return c;
    }
};

}  // namespace lamina::test
