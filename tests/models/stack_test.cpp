// Stack policies: a LayerTypes stack (block type per layer from the config) computes what a Pattern does for the
// same arrangement, equals its layers applied by hand for an arrangement no Pattern expresses, and rejects a
// layer_types list that does not fit the stack.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/layers/mamba.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

using namespace lamina;

namespace {

using MambaLayer = Block<PreNorm, RmsNorm, Mamba2, GatedMlp>;
using AttnLayer = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>;
template <class Stack>
using Hybrid = DecoderOnly<TokenEmbedding, Stack, RmsNorm>;

ModelConfig hybrid_config(std::vector<int> layer_types) {
    ModelConfig c;
    c.d_model = 32;
    c.n_layers = int(layer_types.size());
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.d_ff = 40;
    c.vocab_size = 50;
    c.max_positions = 32;
    c.ssm_state = 8;
    c.ssm_head_dim = 8;
    c.ssm_groups = 2;
    c.layer_types = std::move(layer_types);
    return c;
}

using test::logits_of;

const std::vector<std::int32_t> kIds = {3, 17, 42, 8, 0, 29, 11, 49, 5};

}  // namespace

TEST_CASE("LayerTypes with a periodic list equals the Pattern of that period", "[models][stack]") {
    const RandomSource weights(7, 0.2f);
    const ModelConfig c = hybrid_config({0, 1, 0, 1});
    const Model<Hybrid<LayerTypes<MambaLayer, AttnLayer>>> listed(c, weights);
    const Model<Hybrid<Pattern<MambaLayer, AttnLayer>>> periodic(c, weights);
    CHECK(logits_of(listed, kIds, 64) == logits_of(periodic, kIds, 64));
}

TEST_CASE("LayerTypes with attention at layers 1 and 4 equals its layers applied by hand", "[models][stack]") {
    const RandomSource weights(8, 0.2f);
    const ModelConfig c = hybrid_config({0, 1, 0, 0, 1, 0});
    using Arch = Hybrid<LayerTypes<MambaLayer, AttnLayer>>;
    const Model<Arch> model(c, weights);
    const auto full = logits_of(model, kIds, 64);

    // By hand: the same weights (the stack stores layer i at its type's vector in layer order), each block's own
    // forward in layer order, then the final norm and head.
    const auto& w = model.weights();
    const auto& mamba = std::get<0>(w.layers.layers);
    const auto& attn = std::get<1>(w.layers.layers);
    REQUIRE(mamba.size() == 4);
    REQUIRE(attn.size() == 2);
    const std::int64_t T = std::int64_t(kIds.size()), d = c.d_model, V = c.vocab_size;
    SharedTables tables;
    Arch::prepare(c, tables);
    Arena arena(Arch::scratch_bytes(c, T) + 16 * simd::kAlign);
    const ForwardContext ctx{nullptr, &arena, &tables, 0, kIds};
    std::vector<float> x(std::size_t(T * d)), logits(std::size_t(T * V));
    const TensorView<float> xv(x.data(), {T, d});
    TokenEmbedding::embed(w.embed, c, kIds, xv, ctx);
    std::size_t next_mamba = 0, next_attn = 0;
    for (int i = 0; i < c.n_layers; ++i) {
        if (c.layer_types[std::size_t(i)] == 1) {
            auto state = AttnLayer::make_state(c, c.max_positions);
            AttnLayer::forward(attn[next_attn++], c, state, xv, ctx);
        } else {
            auto state = MambaLayer::make_state(c, c.max_positions);
            MambaLayer::forward(mamba[next_mamba++], c, state, xv, ctx);
        }
    }
    RmsNorm::apply(w.final_norm, xv, xv, c.norm_eps);
    w.lm_head.forward(xv, TensorView<float>(logits.data(), {T, V}), nullptr);
    CHECK(logits == full);

    // The per-layer caches of both kinds carry a sequence across calls.
    CHECK(test::relative_error(logits_of(model, kIds, 1), full) <= 1e-5);
    CHECK(test::relative_error(logits_of(model, kIds, 4), full) <= 1e-5);
}

TEST_CASE("LayerTypes rejects a layer_types list that does not fit the stack", "[models][stack][errors]") {
    const RandomSource weights(9);
    using Arch = Hybrid<LayerTypes<MambaLayer, AttnLayer>>;
    ModelConfig c = hybrid_config({0, 1, 2});
    CHECK_THROWS_WITH(Model<Arch>(c, weights), Catch::Contains("layer 2 has type 2"));
    c.layer_types = {0, 1};
    CHECK_THROWS_WITH(Model<Arch>(c, weights), Catch::Contains("layer_types has 2 entries for 3 layers"));
}
