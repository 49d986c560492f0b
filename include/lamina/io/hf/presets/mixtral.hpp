#pragma once
// Mixtral (transformers' MixtralConfig / MixtralForCausalLM): Mistral's attention with a block-sparse MoE, whose
// hub names are block_sparse_moe.gate (router) and experts.E.w1 / w3 / w2 (gate / up / down of a SwiGLU expert).
#include "lamina/io/hf/presets/llama.hpp"
#include "lamina/models/presets/mixtral.hpp"

namespace lamina::hf {

struct Mixtral {
    using Model = lamina::Model<lamina::Mixtral>;
    static constexpr std::string_view model_type = "mixtral", name = "Mixtral";
    static constexpr bool learned_positions = false;

    static ModelConfig config(const ConfigJson& j) {
        ModelConfig c = detail::llama_family_config(
            j, {.kv_heads = 8, .max_positions = 4096 * 32, .norm_eps = 1e-5f, .rope_theta = 1e6f});
        c.sliding_window = j.get<int>("sliding_window", 0);
        c.n_experts = j.get<int>("num_local_experts", 8);
        c.experts_per_token = j.get<int>("num_experts_per_tok", 2);
        c.router_softmax_first = true;  // MixtralSparseMoeBlock: softmax over all experts, top-k, renormalise
        return c;
    }
    static const NameTable& names() {
        static const NameTable table = [] {
            auto r = detail::llama_attention_rules();
            r.push_back({"layers.#.ffn.router.weight", "layers.#.block_sparse_moe.gate.weight"});
            r.push_back({"layers.#.ffn.experts.#.gate.weight", "layers.#.block_sparse_moe.experts.#.w1.weight"});
            r.push_back({"layers.#.ffn.experts.#.up.weight", "layers.#.block_sparse_moe.experts.#.w3.weight"});
            r.push_back({"layers.#.ffn.experts.#.down.weight", "layers.#.block_sparse_moe.experts.#.w2.weight"});
            return NameTable({"model.", ""}, std::move(r));
        }();
        return table;
    }
};

}  // namespace lamina::hf
