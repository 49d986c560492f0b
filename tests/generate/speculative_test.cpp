// Speculative decoding: greedy acceptance reproduces plain greedy decoding token for token with every drafter,
// rejection sampling reproduces the target's distribution (chi-square over seeded runs against the exact
// distribution of the first two tokens), and the prompt-lookup drafter copies what it should.
#include "lamina/generate/prompt_lookup.hpp"
#include "lamina/generate/speculative.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "test_models.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace lamina;

namespace {
const test::FixtureSource& llama_fixture() {
    static const test::FixtureSource src("llama_gqa");
    return src;
}
const test::LlamaModel& llama() {
    static const test::LlamaModel model(llama_fixture().config(), llama_fixture());
    return model;
}
// A draft model with the target's shapes and vocabulary but unrelated weights: it often disagrees.
const test::LlamaModel& stranger() {
    static const test::LlamaModel model(llama_fixture().config(), RandomSource(7, 0.2f));
    return model;
}
std::vector<std::int32_t> prompt() {
    const auto ids = llama_fixture().ids("input_ids");
    return {ids.begin(), ids.begin() + 5};
}
}  // namespace

TEST_CASE("prompt lookup proposes the continuation of the longest earlier n-gram match", "[generate][speculative]") {
    PromptLookupDrafter d(3);
    std::vector<std::int32_t> draft(4);
    const std::vector<std::int32_t> repeats = {1, 2, 3, 4, 1, 2, 3, 5, 6, 1, 2, 3};
    CHECK(d.propose(repeats, draft, {}) == 4);
    CHECK(draft == std::vector<std::int32_t>{4, 1, 2, 3});  // the first occurrence of 1 2 3, as HF
    CHECK(d.propose(repeats, std::span(draft).first(2), {}) == 2);
    const std::vector<std::int32_t> short_match = {9, 8, 7, 9};  // only the 1-gram "9" occurs earlier
    CHECK(d.propose(short_match, draft, {}) == 3);
    CHECK(std::vector<std::int32_t>(draft.begin(), draft.begin() + 3) == std::vector<std::int32_t>{8, 7, 9});
    const std::vector<std::int32_t> fresh = {5, 6, 7};
    CHECK(d.propose(fresh, draft, {}) == 0);
    REQUIRE_THROWS_WITH(PromptLookupDrafter(2, 3), Catch::Contains("n-gram sizes 3..2"));
}

TEST_CASE("greedy speculative decoding is plain greedy decoding, token for token", "[generate][speculative]") {
    GenerationOptions o;
    o.stop.max_new_tokens = 50;
    o.sampling.repetition_penalty = 1.05f;  // history-dependent processing must see the same history
    Generator plain(llama());
    const auto want = plain.generate(prompt(), o).tokens;
    REQUIRE(want.size() == 50);

    ModelDrafter other(stranger());
    ModelDrafter itself(llama());
    PromptLookupDrafter lookup(2);
    for (const std::int64_t k : {1, 3, 6}) {
        INFO("draft tokens " << k);
        SpeculativeGenerator a(llama(), other, k);
        CHECK(a.generate(prompt(), o).tokens == want);
        CHECK(a.stats().accepted < a.stats().drafted);
        SpeculativeGenerator b(llama(), itself, k);
        CHECK(b.generate(prompt(), o).tokens == want);
        CHECK(b.stats().accepted == b.stats().drafted);  // the target drafting for itself is always right
        CHECK(b.stats().rounds < 50);
        SpeculativeGenerator c(llama(), lookup, k);
        CHECK(c.generate(prompt(), o).tokens == want);
        CHECK(c.generate(prompt(), o).tokens == want);  // reusable
    }
}

TEST_CASE("greedy self-speculation (the target with a layer skipped drafts) is plain greedy decoding",
          "[generate][speculative]") {
    GenerationOptions o;
    o.stop.max_new_tokens = 40;
    Generator plain(llama());
    const auto want = plain.generate(prompt(), o).tokens;
    REQUIRE(want.size() == 40);
    // llama_gqa has 2 layers: the draft runs layer 0 only.
    auto self = self_speculative_drafter(llama(), std::vector{1});
    for (const std::int64_t k : {1, 3, 5}) {
        INFO("draft tokens " << k);
        SpeculativeGenerator g(llama(), self, k);
        CHECK(g.generate(prompt(), o).tokens == want);
        CHECK(g.stats().accepted > 0);
        CHECK(g.stats().accepted < g.stats().drafted);  // the draft really is a different (shallower) model
    }
    REQUIRE_THROWS_WITH(self_speculative_drafter(llama(), std::vector{2}),
                        Catch::Contains("no layer of 0..1 is skipped"));
    REQUIRE_THROWS_WITH(self_speculative_drafter(llama(), std::vector{0, 1}), Catch::Contains("skipping every one"));
}

TEST_CASE("speculative generation honours EOS and the token budget mid-round", "[generate][speculative]") {
    GenerationOptions o;
    o.stop.max_new_tokens = 20;
    Generator plain(llama());
    const auto greedy = plain.generate(prompt(), o).tokens;
    ModelDrafter itself(llama());
    SpeculativeGenerator g(llama(), itself, 4);
    o.stop.max_new_tokens = 7;
    auto r = g.generate(prompt(), o);
    CHECK(r.reason == StopReason::max_tokens);
    CHECK(r.tokens == std::vector<std::int32_t>(greedy.begin(), greedy.begin() + 7));
    o.stop.max_new_tokens = 20;
    o.stop.eos_ids = {greedy[5]};
    const auto first = std::size_t(std::find(greedy.begin(), greedy.end(), greedy[5]) - greedy.begin());
    r = g.generate(prompt(), o);
    CHECK(r.reason == StopReason::eos);
    CHECK(r.tokens == std::vector<std::int32_t>(greedy.begin(), greedy.begin() + std::ptrdiff_t(first + 1)));
}

TEST_CASE("rejection sampling keeps the target's distribution exactly", "[generate][speculative][statistics]") {
    GenerationOptions o;
    o.sampling.temperature = 1.f, o.sampling.top_k = 4;
    o.stop.max_new_tokens = 4;  // drafts of 3 tokens; the first two tokens are tallied
    const auto p = prompt();
    const std::int64_t V = llama().config().vocab_size;

    // The exact distribution of the first two tokens, and the draft model's own, from their logits.
    auto pair_distribution = [&](const test::LlamaModel& m) {
        std::map<std::pair<int, int>, double> dist;
        TokenSampler sampler(o.sampling, std::int32_t(V));
        auto s = m.session();
        std::vector<float> first(static_cast<std::size_t>(V)), second(static_cast<std::size_t>(V));
        m.forward(s, p, TensorView<float>(first.data(), {1, V}));
        sampler.distribution(first, p);
        for (std::int32_t a = 0; a < V; ++a) {
            if (first[std::size_t(a)] == 0) continue;
            auto fork = s;
            m.forward(fork, std::span(&a, 1), TensorView<float>(second.data(), {1, V}));
            auto history = p;
            history.push_back(a);
            sampler.distribution(second, history);
            for (std::int32_t b = 0; b < V; ++b)
                if (second[std::size_t(b)] > 0) dist[{a, b}] = double(first[std::size_t(a)]) * second[std::size_t(b)];
        }
        return dist;
    };
    const auto target = pair_distribution(llama()), draft = pair_distribution(stranger());
    double distance = 0;  // total variation between target and draft: the test can tell them apart
    for (const auto& [k, v] : target) distance += std::fabs(v - (draft.count(k) ? draft.at(k) : 0.0)) / 2;
    for (const auto& [k, v] : draft) distance += target.count(k) ? 0.0 : v / 2;
    CHECK(distance > 0.3);

    const int runs = 4000;
    std::map<std::pair<int, int>, int> counts;
    ModelDrafter drafter(stranger());
    SpeculativeGenerator gen(llama(), drafter, 3);
    SpeculativeStats total;
    for (int seed = 0; seed < runs; ++seed) {
        o.sampling.seed = std::uint64_t(seed);
        const auto r = gen.generate(p, o);
        REQUIRE(r.tokens.size() == 4);
        ++counts[{r.tokens[0], r.tokens[1]}];
        total.drafted += gen.stats().drafted;
        total.accepted += gen.stats().accepted;
    }
    CHECK(total.acceptance_rate() > 0.05);  // both branches ran many times
    CHECK(total.acceptance_rate() < 0.95);

    // Pearson chi-square over the pairs, bins with fewer than 5 expected merged into one.
    double chi2 = 0, rest_expected = 0;
    int rest_observed = runs, bins = 0;
    for (const auto& [k, prob] : target) {
        const double expected = prob * runs;
        if (expected < 5) {
            rest_expected += expected;
            continue;
        }
        const int observed = counts.count(k) ? counts.at(k) : 0;
        rest_observed -= observed;
        chi2 += (observed - expected) * (observed - expected) / expected;
        ++bins;
    }
    if (rest_expected > 0) {
        chi2 += (rest_observed - rest_expected) * (rest_observed - rest_expected) / std::max(rest_expected, 1e-9);
        ++bins;
    }
    const double df = bins - 1, z = 3.29;  // upper 0.05% quantile, Wilson–Hilferty approximation
    const double critical = df * std::pow(1 - 2 / (9 * df) + z * std::sqrt(2 / (9 * df)), 3);
    INFO("chi2 " << chi2 << " over " << bins << " bins, critical " << critical);
    CHECK(bins >= 8);
    CHECK(chi2 < critical);
}
