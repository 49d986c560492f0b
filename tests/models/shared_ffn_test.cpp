// Cross-layer FFN sharing (SharedFfn): a decoder whose layers 0, 2 and 4 use one FFN weight set matches PyTorch
// (tests/reference/shared_ffn.py: three TransformerEncoderLayers holding the same nn.Linear modules), equals the
// same model with that set duplicated per layer bit for bit, and holds and names the set once.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/layers/weight_list.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace lamina;

namespace {

using Attn = Attention<NoPositions, Causal>;
using OwnFfnLayer = Block<PreNorm, LayerNorm, Attn, Mlp>;
using SharedFfnLayer = Block<PreNorm, LayerNorm, Attn, SharedFfn<Mlp>>;
template <class Stack>
using Gpt = DecoderOnly<TokenPositionEmbedding, Stack, LayerNorm>;
using SharedArch = Gpt<Pattern<SharedFfnLayer, OwnFfnLayer>>;  // layers 0, 2, 4 share layer 0's FFN
using DuplicatedArch = Gpt<Repeat<OwnFfnLayer>>;

// A source in which the FFN tensors of the listed layers are copies of layer 0's: the checkpoint of the same model
// without sharing.
template <class Source>
struct DuplicatedFfn {
    const Source& source;
    std::vector<int> layers;
    std::string resolve(const std::string& name) const {
        for (int i : layers) {
            const std::string prefix = "layers." + std::to_string(i) + ".ffn.";
            if (name.starts_with(prefix)) return "layers.0.ffn." + name.substr(prefix.size());
        }
        return name;
    }
    bool has(const std::string& name) const { return source.has(resolve(name)); }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        return source.read(resolve(name), shape);
    }
};

template <class Arch>
WeightList declared(const ModelConfig& c, const auto& source) {
    typename Arch::Weights w;
    WeightList list([&](const std::string& n) { return source.has(n); });
    w.visit(list, c);
    return list;
}

}  // namespace

using test::logits_of;

TEST_CASE("A decoder whose layers reuse one FFN module matches PyTorch", "[models][golden][shared_ffn]") {
    const test::FixtureSource src("shared_ffn");
    const Model<SharedArch> model(src.config(), src);
    const auto ids = src.ids("input_ids");
    const auto expected = src.read("expected_logits", {});
    ThreadPool pool(2);
    CHECK(test::relative_error(logits_of(model, ids, 64, &pool), expected) <= 1e-4);
    // Through the KV cache in chunks of 5 and token by token: the shared FFN carries no state.
    CHECK(test::relative_error(logits_of(model, ids, 5), expected) <= 1e-4);
    CHECK(test::relative_error(logits_of(model, ids, 1), expected) <= 1e-4);
}

TEST_CASE("Sharing an FFN equals duplicating its weights per layer, bit for bit", "[models][shared_ffn]") {
    const test::FixtureSource src("shared_ffn");
    const ModelConfig c = src.config();
    const auto ids = src.ids("input_ids");
    const Model<SharedArch> shared(c, src);
    const Model<DuplicatedArch> duplicated(c, DuplicatedFfn<test::FixtureSource>{src, {2, 4}});
    CHECK(logits_of(shared, ids, 64) == logits_of(duplicated, ids, 64));

    // ALBERT-style: every layer of a Repeat stack shares layer 0's FFN.
    const RandomSource random(3, 0.2f);
    const Model<Gpt<Repeat<SharedFfnLayer>>> all_shared(c, random);
    const Model<DuplicatedArch> all_duplicated(c, DuplicatedFfn<RandomSource>{random, {1, 2, 3, 4}});
    CHECK(logits_of(all_shared, ids, 64) == logits_of(all_duplicated, ids, 64));
}

TEST_CASE("A shared FFN weight set is held once and named once", "[models][shared_ffn]") {
    const test::FixtureSource src("shared_ffn");
    const ModelConfig c = src.config();
    const Model<SharedArch> model(c, src);

    // Layers 0, 2, 4 (the SharedFfnLayer vector) point at one loaded set; layers 1, 3 keep their own.
    const auto& shared = std::get<0>(model.weights().layers.layers);
    REQUIRE(shared.size() == 3);
    for (const auto& layer : shared) CHECK(layer.ffn.set.get() == shared[0].ffn.set.get());
    CHECK(shared[0].ffn.set.use_count() == 3);  // no other copy: the layers are its only holders
    const auto& own = std::get<1>(model.weights().layers.layers);
    REQUIRE(own.size() == 2);
    CHECK(&own[0].ffn.up != &own[1].ffn.up);

    // The weight list (what `lamina info` counts, what a loader reads) names the set under layer 0 only, so the
    // model has exactly two FFNs' worth of parameters fewer than its unshared twin.
    const WeightList list = declared<SharedArch>(c, src);
    const auto named = [&](const std::string& n) {
        return std::ranges::count_if(list.tensors(), [&](const DeclaredTensor& t) { return t.name == n; });
    };
    CHECK(named("layers.0.ffn.up.weight") == 1);
    CHECK(named("layers.1.ffn.up.weight") == 1);
    CHECK(named("layers.2.ffn.up.weight") == 0);
    CHECK(named("layers.4.ffn.down.bias") == 0);
    CHECK(named("layers.4.ffn_norm.weight") == 1);  // the norm before the FFN stays per layer
    const std::int64_t ffn = 2 * c.d_model * c.d_ff + c.d_ff + c.d_model;
    CHECK(declared<DuplicatedArch>(c, src).parameters() - list.parameters() == 2 * ffn);
}
