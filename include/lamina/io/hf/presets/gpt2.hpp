#pragma once
// GPT-2 (transformers' GPT2Config / GPT2LMHeadModel). Hub files name the backbone without the class prefix
// ("h.0.attn.c_attn.weight"), re-saved ones with it ("transformer.h.0…"). Conv1D stores weights [in, out], and
// c_attn fuses q, k, v along out, so the table transposes and slices.
#include "lamina/io/hf/preset.hpp"
#include "lamina/models/presets/gpt2.hpp"

namespace lamina::hf {

struct Gpt2 {
    using Model = lamina::Model<lamina::Gpt2>;
    static constexpr std::string_view model_type = "gpt2", name = "GPT-2";
    static constexpr bool learned_positions = true;

    static ModelConfig config(const ConfigJson& j) {
        const auto s = require_core(j, "n_embd", "n_layer", "n_head");
        LAMINA_CHECK(s.d_model % s.n_heads == 0, j.where(), ": n_embd ", s.d_model, " is not a multiple of n_head ",
                     s.n_heads);
        if (j.get<bool>("scale_attn_by_inverse_layer_idx", false))
            j.unsupported("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported");
        ModelConfig c;
        c.d_model = s.d_model, c.n_layers = s.n_layers, c.n_heads = c.n_kv_heads = s.n_heads;
        c.head_dim = s.d_model / s.n_heads;
        c.vocab_size = s.vocab_size;
        c.d_ff = j.get<int>("n_inner", 4 * s.d_model);
        c.max_positions = j.get<int>("n_positions", 1024);
        c.norm_eps = j.get<float>("layer_norm_epsilon", 1e-5f);
        c.activation = activation(j, "activation_function", "gelu_new");
        c.qkv_bias = c.o_bias = c.mlp_bias = true;
        c.attn_scale = j.get<bool>("scale_attn_weights", true) ? 0.f : 1.f;  // 0: 1/sqrt(head_dim)
        c.tie_embeddings = j.get<bool>("tie_word_embeddings", true);
        return c;
    }

    static const NameTable& names() {
        static const NameTable table = [] {
            std::vector<Rule> r = {{"embed.tokens", "wte.weight"},
                                   {"embed.positions", "wpe.weight"},
                                   {"final_norm.weight", "ln_f.weight"},
                                   {"final_norm.bias", "ln_f.bias"},
                                   {"lm_head.weight", "lm_head.weight", Layout::out_in, 0, 1, false}};
            for (const char* p : {"weight", "bias"}) {
                const std::string w = p;
                const Layout l = w == "weight" ? Layout::conv1d : Layout::out_in;
                r.push_back({"layers.#.mixer_norm." + w, "h.#.ln_1." + w});
                r.push_back({"layers.#.ffn_norm." + w, "h.#.ln_2." + w});
                r.push_back({"layers.#.mixer.q." + w, "h.#.attn.c_attn." + w, l, 0, 3});
                r.push_back({"layers.#.mixer.k." + w, "h.#.attn.c_attn." + w, l, 1, 3});
                r.push_back({"layers.#.mixer.v." + w, "h.#.attn.c_attn." + w, l, 2, 3});
                r.push_back({"layers.#.mixer.o." + w, "h.#.attn.c_proj." + w, l});
                r.push_back({"layers.#.ffn.up." + w, "h.#.mlp.c_fc." + w, l});
                r.push_back({"layers.#.ffn.down." + w, "h.#.mlp.c_proj." + w, l});
            }
            return NameTable({"", "transformer."}, std::move(r));
        }();
        return table;
    }
};

}  // namespace lamina::hf
