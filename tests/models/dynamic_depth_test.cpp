// Dynamic depth and KV eviction: a layer schedule (skipped, repeated, half layers) against a model built with that
// exact stack of weights; early exit and the logit lens against shallower models; DoLa's contrast against its
// definition; the L2-norm eviction policy against its definition and a budget it never reaches.
#include "lamina/generate/dola.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>

using namespace lamina;

namespace {

using RopeHalf = Rope<RopeLayout::rotate_half>;
using Arch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Attention<RopeHalf, Causal>, GatedMlp>>, RmsNorm>;

ModelConfig config(int n_layers) {
    ModelConfig c;
    c.d_model = 32, c.n_layers = n_layers, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 8, c.d_ff = 48;
    c.vocab_size = 50, c.max_positions = 96;
    return c;
}

// Random weights under renamed layers: layer i of this model reads layer layer_of[i] of the base source, so a stack
// of n layers can replay any sequence of a deeper model's layers. Tensors named in `zeros` read as zeros.
struct RemappedSource {
    RandomSource base{11, 0.3f};
    std::vector<int> layer_of;
    std::vector<std::string> zeros;
    bool has(const std::string&) const { return true; }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        for (const auto& z : zeros)
            if (name.starts_with(z)) return std::vector<float>(base.read(name, shape).size(), 0.f);
        if (!name.starts_with("layers.")) return base.read(name, shape);
        const auto dot = name.find('.', 7);
        const int i = std::stoi(name.substr(7, dot - 7));
        return base.read("layers." + std::to_string(layer_of[std::size_t(i)]) + name.substr(dot), shape);
    }
};
RemappedSource layers(std::vector<int> of, std::vector<std::string> zeros = {}) { return {RandomSource(11, 0.3f), std::move(of), std::move(zeros)}; }

std::vector<std::int32_t> tokens(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) x = std::int32_t(rng() % 50);
    return t;
}

// Every token's logits: a prefill of `prompt` tokens, then one token per call.
std::vector<float> run(const Model<Arch>& m, Model<Arch>::Session& s, std::span<const std::int32_t> ids,
                       std::size_t prompt) {
    const std::int64_t V = m.config().vocab_size;
    std::vector<float> out(ids.size() * std::size_t(V));
    m.forward(s, ids.first(prompt), TensorView<float>(out.data(), {std::int64_t(prompt), V}));
    for (std::size_t t = prompt; t < ids.size(); ++t)
        m.forward(s, ids.subspan(t, 1), TensorView<float>(out.data() + t * std::size_t(V), {1, V}));
    return out;
}

}  // namespace

TEST_CASE("a layer schedule runs the layers it lists: skipped, repeated, half layers", "[models][depth]") {
    const auto ids = tokens(20, 1);
    const Model<Arch> model(config(3), layers({0, 1, 2}));
    struct Case {
        const char* name;
        LayerSchedule schedule;
        std::vector<int> equivalent;  // the layers of the model that runs the same computation without a schedule
        std::vector<std::string> zeros = {};
    };
    const std::vector<Case> cases = {
        {"skip layer 1", LayerSchedule::skipping(3, std::vector{1}), {0, 2}},
        {"repeat layer 1", LayerSchedule::repeating(3, 1, 1, 2), {0, 1, 1, 2}},
        {"repeat layers 0-1 three times", LayerSchedule::repeating(3, 0, 1, 3), {0, 1, 0, 1, 0, 1, 2}},
        // Layer 1 without its FFN = layer 1 with a zero FFN output projection.
        {"layer 1 attention only", LayerSchedule(std::vector<LayerStep>{{0}, {1, true, false}, {2}}), {0, 1, 2}, {"layers.1.ffn.down"}},
    };
    for (const auto& k : cases) {
        INFO(k.name);
        ModelConfig c = config(int(k.equivalent.size()));
        const Model<Arch> equivalent(c, layers(k.equivalent, k.zeros));
        auto plain = equivalent.session(32);
        const auto expected = run(equivalent, plain, ids, 20);
        auto scheduled = model.session(32, k.schedule);
        CHECK(test::relative_error(run(model, scheduled, ids, 7), expected) <= 1e-5);  // caches consistent
    }
    CHECK_THROWS_WITH(model.session(8, LayerSchedule(std::vector<LayerStep>{{3}})), Catch::Contains("layer 3 is outside 0..2"));
}

TEST_CASE("the same model drives a full session and a layer-skipping draft session side by side", "[models][depth]") {
    const Model<Arch> model(config(3), layers({0, 1, 2}));
    const Model<Arch> shallow(config(2), layers({0, 2}));
    const auto ids = tokens(12, 2);
    auto full = model.session(16), draft = model.session(16, LayerSchedule::skipping(3, std::vector{1}));
    auto reference_full = model.session(16), reference_draft = shallow.session(16);
    CHECK(run(model, full, ids, 4) == run(model, reference_full, ids, 4));
    CHECK(test::relative_error(run(model, draft, ids, 4), run(shallow, reference_draft, ids, 4)) <= 1e-5);
}

TEST_CASE("the logit lens after k layers is the output of the first k layers", "[models][depth]") {
    const Model<Arch> model(config(3), layers({0, 1, 2}));
    const Model<Arch> first_two(config(2), layers({0, 1}));
    const auto ids = tokens(10, 3);
    const std::int64_t T = 10, V = 50;
    std::vector<float> final_logits(std::size_t(T * V)), early(std::size_t(T * V));
    auto s = model.session(4);
    model.forward_with_lens(s, ids, TensorView<float>(final_logits.data(), {T, V}), 2,
                            TensorView<float>(early.data(), {T, V}));
    auto a = model.session(), b = first_two.session();
    CHECK(test::relative_error(final_logits, run(model, a, ids, 10)) <= 1e-6);
    CHECK(test::relative_error(early, run(first_two, b, ids, 10)) <= 1e-5);
    CHECK_THROWS_WITH(model.forward_with_lens(s, ids, TensorView<float>(final_logits.data(), {T, V}), 3,
                                              TensorView<float>(early.data(), {T, V})),
                      Catch::Contains("lens layer 3 is outside 1..2"));
}

TEST_CASE("early exit stops at the lens, keeps the deeper caches consistent, and runs to the end when unsure",
          "[models][depth]") {
    const Model<Arch> model(config(3), layers({0, 1, 2}));
    const auto ids = tokens(14, 4);
    const std::int64_t V = 50;
    std::vector<float> exit_logits(50), lens(50), full(50);
    const TensorView<float> exit_row(exit_logits.data(), {1, V}), lens_row(lens.data(), {1, V}),
        full_row(full.data(), {1, V});

    auto s = model.session(8), reference = model.session(8);
    model.forward(s, std::span(ids).first(6), exit_row);
    model.forward(reference, std::span(ids).first(6), full_row);
    // Always confident (the top token always has more than 1e-6): exits after min_layers.
    CHECK(model.forward_early_exit(s, ids[6], exit_row, EarlyExit{2, 1e-6f, 0.f}) == 2);
    model.forward_with_lens(reference, std::span(ids).subspan(6, 1), full_row, 2, lens_row);
    CHECK(exit_logits == lens);
    // The skipped layer cached the token (from the exit hidden state): the next steps run, at the right position.
    for (const KvCache& cache : std::get<0>(s.state())) CHECK(cache.size() == 7);
    // Never confident: the full model.
    for (std::size_t t = 7; t < ids.size(); ++t) {
        CHECK(model.forward_early_exit(s, ids[t], exit_row, EarlyExit{1, 1.f, 0.f}) == 3);
        CHECK(std::ranges::all_of(exit_logits, [](float x) { return std::isfinite(x); }));
    }
}

TEST_CASE("DoLa contrast: final minus early log-probabilities over the plausible tokens", "[models][depth]") {
    const std::vector<float> final_logits = {2.f, 1.5f, -1.f, 0.f, 1.9f}, early = {1.f, 2.f, 0.f, -3.f, 0.5f};
    std::vector<float> out = final_logits;
    dola_contrast(out, early, 0.5f);
    // Reference from the definition, in double.
    auto log_probs = [](const std::vector<float>& x) {
        double z = 0;
        for (float v : x) z += std::exp(double(v));
        std::vector<double> lp;
        for (float v : x) lp.push_back(double(v) - std::log(z));
        return lp;
    };
    const auto lf = log_probs(final_logits), le = log_probs(early);
    const double top = *std::ranges::max_element(lf);
    for (std::size_t i = 0; i < out.size(); ++i) {
        INFO(i);
        if (lf[i] < top + std::log(0.5))
            CHECK(std::isinf(out[i]));
        else
            CHECK(out[i] == Approx(lf[i] - le[i]).margin(1e-5));
    }
    CHECK(std::isinf(out[2]));  // implausible under the final layer, though the early one likes it less
    CHECK_THROWS_WITH(dola_contrast(out, std::span(early).first(2)), Catch::Contains("2 early logits for 5"));
}

TEST_CASE("the L2-norm eviction policy keeps the smallest-norm keys plus the most recent", "[models][eviction]") {
    const std::vector<float> norms = {5, 1, 4, 0.5f, 3, 2};
    std::vector<std::int64_t> out(norms.size());
    keep_smallest_key_norms(norms, 3, out);
    CHECK(std::vector(out.begin(), out.begin() + 3) == std::vector<std::int64_t>{1, 3, 5});

    // A cache of 1 head, head_dim 4: key t is (t+1)·e_(t mod 4) except every third key, which is tiny. int8 rows
    // move with their scales.
    const KvPrecision precision = GENERATE(KvPrecision::f32, KvPrecision::int8);
    KvCache cache(1, 4, 32, precision);
    cache.set_eviction({6, 2});
    std::vector<float> kv(8);
    for (int t = 0; t < 12; ++t) {
        std::ranges::fill(kv, 0.f);
        kv[std::size_t(t % 4)] = t % 3 == 0 ? 0.01f * float(t + 1) : float(t + 1);
        kv[4] = float(t);  // the value remembers the position
        cache.append(kv.data(), kv.data() + 4, 8, 1);
        cache.evict_over_budget();
    }
    CHECK(cache.kernel_keys() == 6);
    CHECK(cache.size() == 12);
    CHECK(cache.evicted() == 6);
    // Kept: the four smallest-norm older keys (positions 0, 3, 6, 9 are tiny), then the 2 most recent.
    std::vector<float> positions;
    cache.with_views([&](auto, auto values) {
        for (std::int64_t j = 0; j < 6; ++j)
            positions.push_back(std::round(float(values.data[j * values.ld]) * (values.scales ? values.scales[j] : 1.f)));
    });
    CHECK(positions == std::vector<float>{0, 3, 6, 9, 10, 11});
    CHECK_THROWS_WITH(cache.truncate(9), Catch::Contains("were evicted"));
    cache.truncate(11);
    CHECK(cache.kernel_keys() == 5);
}

TEST_CASE("a session with a KV budget it never reaches decodes exactly; a small budget bounds every layer",
          "[models][eviction]") {
    const Model<Arch> model(config(3), layers({0, 1, 2}));
    const auto ids = tokens(60, 5);
    auto plain = model.session(8), roomy = model.session(8), tight = model.session(8);
    roomy.set_kv_eviction({60, 4});
    tight.set_kv_eviction({16, 4});
    const auto expected = run(model, plain, ids, 8);
    CHECK(run(model, roomy, ids, 8) == expected);
    const auto evicted = run(model, tight, ids, 8);
    for (const KvCache& cache : std::get<0>(tight.state())) {
        CHECK(cache.kernel_keys() <= 16);
        CHECK(cache.size() == 60);
    }
    // The first tokens, before the budget is reached, are unaffected.
    CHECK(std::equal(evicted.begin(), evicted.begin() + 16 * 50, expected.begin()));
    CHECK(test::relative_error(evicted, expected) > 1e-4);  // eviction does change later tokens
    CHECK_THROWS_WITH(tight.set_kv_eviction({4, 4}), Catch::Contains("must exceed the 4 recent keys"));
}
