#pragma once
// State-space models: Mamba (MambaConfig / MambaForCausalLM), Mamba-2 (Mamba2Config / Mamba2ForCausalLM) and the
// Mamba-2/attention hybrid Bamba (BambaConfig / BambaForCausalLM). The Mamba classes save the backbone under
// "backbone.", Bamba under "model."; torch Conv1d weights are stored [channels, 1, kernel]. lamina's mixers have no
// in/out projection biases, a conv bias and SiLU — HF's defaults and every released checkpoint's — so other
// settings are refused by name rather than run wrong.
#include "lamina/io/hf/preset.hpp"
#include "lamina/models/presets/mamba.hpp"

#include <cmath>

namespace lamina::hf {

namespace detail {

// A recurrent model has no position limit of its own; this bounds a session's token count.
inline constexpr int kSsmMaxPositions = 1 << 20;

inline void check_ssm_options(const ConfigJson& j, const char* proj_bias, const char* conv_bias, const char* act) {
    if (j.get<bool>(proj_bias, false)) j.unsupported(proj_bias, "biases on in_proj/out_proj are not supported");
    if (!j.get<bool>(conv_bias, true)) j.unsupported(conv_bias, "a conv1d without bias is not supported");
    if (j.get<std::string>(act, "silu") != "silu" && j.get<std::string>(act, "silu") != "swish")
        j.unsupported(act, "the Mamba mixers run SiLU only (as mamba_ssm's kernels)");
}

// expand may be written as a float (1.5 in some Mamba-2 configs); lamina's d_inner is an integer multiple.
inline int ssm_expand(const ConfigJson& j, const char* key) {
    const float e = j.get<float>(key, 2.f);
    if (e < 1.f || e != std::floor(e)) j.unsupported(key, "expand ", e, " is not a positive integer");
    return int(e);
}

// Mamba2Config / BambaConfig time_step_limit: only the default (0, inf) — a no-op after the softplus — is run.
inline void check_time_step_limit(const ConfigJson& j) {
    if (!j.has("time_step_limit")) return;
    const auto& v = j.json()["time_step_limit"];
    const bool lower_zero = v.is_array() && v.size() == 2 && v[0].is_number() && v[0].get<double>() == 0.0;
    const bool upper_inf = v.is_array() && v.size() == 2 && v[1].is_string() && v[1].get<std::string>() == "Infinity";
    if (!lower_zero || !upper_inf) j.unsupported("time_step_limit", v.dump(), " (only [0.0, Infinity] is supported)");
}

// Mamba-2 sizes: heads · head_dim must be the mixer's width expand · hidden_size (lamina derives heads from it).
inline void mamba2_sizes(const ConfigJson& j, ModelConfig& c, const char* heads, int heads_default,
                         const char* head_dim, const char* groups, int groups_default, const char* state,
                         int state_default, const char* conv, const char* expand) {
    c.ssm_expand = ssm_expand(j, expand);
    const int E = c.ssm_expand * c.d_model, H = j.get<int>(heads, heads_default);
    LAMINA_CHECK(H > 0 && E % H == 0, j.where(), ": ", heads, " ", H, " does not divide the mixer width ", E);
    // "auto" (BambaConfig's default) is the width per head.
    const bool auto_dim = j.has(head_dim) && j.json()[head_dim].is_string() && j.json()[head_dim] == "auto";
    c.ssm_head_dim = auto_dim || !j.has(head_dim) ? E / H : j.get<int>(head_dim, E / H);
    LAMINA_CHECK(c.ssm_head_dim * H == E, j.where(), ": ", heads, " ", H, " x ", head_dim, " ", c.ssm_head_dim,
                 " is not the mixer width expand x hidden_size = ", E);
    c.ssm_groups = j.get<int>(groups, groups_default);
    c.ssm_state = j.get<int>(state, state_default);
    c.ssm_conv = j.get<int>(conv, 4);
}

inline std::vector<Rule> ssm_rules(const std::string& hf_mixer, std::initializer_list<const char*> tensors) {
    std::vector<Rule> r = {{"layers.#.mixer.conv.weight", hf_mixer + ".conv1d.weight", Layout::squeezed},
                           {"layers.#.mixer.conv.bias", hf_mixer + ".conv1d.bias"}};
    for (const std::string t : tensors) r.push_back({"layers.#.mixer." + t, hf_mixer + "." + t});
    return r;
}

inline NameTable mamba_names(std::initializer_list<const char*> mixer_tensors) {
    auto r = ssm_rules("layers.#.mixer", mixer_tensors);
    r.insert(r.end(), {{"embed.tokens", "embeddings.weight"},
                       {"final_norm.weight", "norm_f.weight"},
                       {"lm_head.weight", "lm_head.weight", Layout::out_in, 0, 1, false},
                       {"layers.#.mixer_norm.weight", "layers.#.norm.weight"}});
    return NameTable({"backbone.", ""}, std::move(r));
}

inline ModelConfig ssm_core(const ConfigJson& j) {
    ModelConfig c;
    c.d_model = j.require<int>("hidden_size");
    c.n_layers = j.require<int>("num_hidden_layers");
    c.vocab_size = j.require<int>("vocab_size");
    c.max_positions = kSsmMaxPositions;
    c.norm_eps = j.get<float>("layer_norm_epsilon", 1e-5f);
    return c;
}

}  // namespace detail

struct Mamba {
    using Model = lamina::Model<lamina::Mamba1Lm>;
    static constexpr std::string_view model_type = "mamba", name = "Mamba";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        detail::check_ssm_options(j, "use_bias", "use_conv_bias", "hidden_act");
        ModelConfig c = detail::ssm_core(j);
        c.ssm_expand = detail::ssm_expand(j, "expand");
        c.ssm_state = j.get<int>("state_size", 16);
        c.ssm_conv = j.get<int>("conv_kernel", 4);
        // time_step_rank "auto" (MambaConfig's default, resolved to ceil(hidden_size / 16)) is lamina's 0.
        const bool auto_rank = j.has("time_step_rank") && j.json()["time_step_rank"].is_string() &&
                               j.json()["time_step_rank"] == "auto";
        c.ssm_dt_rank = auto_rank ? 0 : j.get<int>("time_step_rank", 0);
        c.tie_embeddings = j.get<bool>("tie_word_embeddings", true);
        return c;
    }
    static const NameTable& names() {
        static const NameTable table =
            detail::mamba_names({"in_proj.weight", "x_proj.weight", "dt_proj.weight", "dt_proj.bias", "A_log", "D",
                                 "out_proj.weight"});
        return table;
    }
};

struct Mamba2 {
    using Model = lamina::Model<lamina::Mamba2Lm>;
    static constexpr std::string_view model_type = "mamba2", name = "Mamba-2";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        detail::check_ssm_options(j, "use_bias", "use_conv_bias", "hidden_act");
        detail::check_time_step_limit(j);
        ModelConfig c = detail::ssm_core(j);
        detail::mamba2_sizes(j, c, "num_heads", 128, "head_dim", "n_groups", 8, "state_size", 128, "conv_kernel",
                             "expand");
        c.tie_embeddings = j.get<bool>("tie_word_embeddings", false);
        return c;
    }
    static const NameTable& names() {
        static const NameTable table = detail::mamba_names(
            {"in_proj.weight", "dt_bias", "A_log", "D", "norm.weight", "out_proj.weight"});
        return table;
    }
};

// Bamba: layers listed in attn_layer_indices are attention (layer type 1), the rest Mamba-2 (type 0). BambaConfig
// hard-codes partial_rotary_factor 0.5: RoPE turns the first half of each head.
struct Bamba {
    using Model = lamina::Model<lamina::Bamba>;
    static constexpr std::string_view model_type = "bamba", name = "Bamba";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        detail::check_ssm_options(j, "mamba_proj_bias", "mamba_conv_bias", "hidden_act");
        detail::check_time_step_limit(j);
        const auto s = require_core(j, "hidden_size", "num_hidden_layers", "num_attention_heads");
        ModelConfig c;
        c.d_model = s.d_model, c.n_layers = s.n_layers, c.n_heads = s.n_heads, c.vocab_size = s.vocab_size;
        c.n_kv_heads = j.get<int>("num_key_value_heads", 8);
        c.head_dim = j.get<int>("head_dim", s.d_model / s.n_heads);
        c.rotary_dim = c.head_dim / 2;
        c.d_ff = j.require<int>("intermediate_size");
        c.max_positions = j.get<int>("max_position_embeddings", 262144);
        c.norm_eps = j.get<float>("rms_norm_eps", 1e-5f);
        c.activation = activation(j, "hidden_act", "silu");
        c.tie_embeddings = j.get<bool>("tie_word_embeddings", false);
        read_rope(j, c, 10000.f);
        detail::mamba2_sizes(j, c, "mamba_n_heads", 128, "mamba_d_head", "mamba_n_groups", 1, "mamba_d_state", 256,
                             "mamba_d_conv", "mamba_expand");
        c.layer_types.assign(std::size_t(c.n_layers), 0);
        if (j.has("attn_layer_indices")) {
            const auto& list = j.json()["attn_layer_indices"];
            LAMINA_CHECK(list.is_array(), j.where(), ": key \"attn_layer_indices\" must be a list of layer indices");
            for (const auto& v : list) {
                LAMINA_CHECK(v.is_number_integer() && v.get<int>() >= 0 && v.get<int>() < c.n_layers, j.where(),
                             ": attn_layer_indices entry ", v.dump(), " is not a layer index below num_hidden_layers ",
                             c.n_layers);
                c.layer_types[std::size_t(v.get<int>())] = 1;
            }
        }
        return c;
    }
    static const NameTable& names() {
        static const NameTable table = [] {
            auto r = detail::ssm_rules("layers.#.mamba",
                                       {"in_proj.weight", "dt_bias", "A_log", "D", "norm.weight", "out_proj.weight"});
            r.insert(r.end(), {{"embed.tokens", "embed_tokens.weight"},
                               {"final_norm.weight", "final_layernorm.weight"},
                               {"lm_head.weight", "lm_head.weight", Layout::out_in, 0, 1, false},
                               {"layers.#.mixer_norm.weight", "layers.#.input_layernorm.weight"},
                               {"layers.#.ffn_norm.weight", "layers.#.pre_ff_layernorm.weight"}});
            for (const std::string p : {"q", "k", "v", "o"})
                r.push_back({"layers.#.mixer." + p + ".weight", "layers.#.self_attn." + p + "_proj.weight"});
            for (const std::string p : {"gate", "up", "down"})
                r.push_back({"layers.#.ffn." + p + ".weight", "layers.#.feed_forward." + p + "_proj.weight"});
            return NameTable({"model.", ""}, std::move(r));
        }();
        return table;
    }
};

}  // namespace lamina::hf
