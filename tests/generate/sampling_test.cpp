// Logit processors, the sampling pipeline and the Rng stream against tests/reference/generate.py (PyTorch versions
// of transformers' logits processors, and the xoshiro256** stream in plain Python integers).
#include "lamina/generate/sampler.hpp"
#include "test_models.hpp"

#include <catch2/catch.hpp>

using namespace lamina;

namespace {

const test::FixtureSource& fixture() {
    static const test::FixtureSource src("generate");
    return src;
}

std::vector<float> read(const std::string& name) { return fixture().read(name, {}); }

// Equal up to float rounding, with -inf (filtered) exactly where the reference has it.
void check_logits(const std::vector<float>& got, const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("token " << i << ": " << got[i] << " vs " << want[i]);
        if (std::isinf(want[i])) {
            CHECK((std::isinf(got[i]) && got[i] < 0));
        } else {
            CHECK(got[i] == Approx(want[i]).epsilon(1e-6).margin(1e-6));
        }
    }
}

template <class P>
std::vector<float> processed(P p) {
    auto logits = read("logits");
    const auto h = test::int64s(fixture(), "history");
    const std::vector<std::int32_t> history(h.begin(), h.end());
    LogitPipeline pipeline(std::int32_t(logits.size()));
    pipeline.add(std::move(p));
    pipeline.apply(logits, history);
    return logits;
}

}  // namespace

TEST_CASE("Rng reproduces the xoshiro256** stream seeded by SplitMix64", "[generate][sampling]") {
    Rng rng(42);
    for (const auto want : test::int64s(fixture(), "rng_42_next")) CHECK(rng.next() == std::uint64_t(want));
    double u;
    const auto bits = test::int64s(fixture(), "rng_42_uniform");
    std::memcpy(&u, bits.data(), 8);
    CHECK(Rng(42).uniform() == u);
}

TEST_CASE("each logit processor matches its transformers / OpenAI definition", "[generate][sampling]") {
    check_logits(processed(Temperature{0.7f}), read("temperature_0.7"));
    check_logits(processed(TopK{5}), read("top_k_5"));
    check_logits(processed(TopP{0.8f}), read("top_p_0.8"));
    check_logits(processed(MinP{0.1f}), read("min_p_0.1"));
    check_logits(processed(RepetitionPenalty{1.3f}), read("repetition_1.3"));
    check_logits(processed(PresenceFrequencyPenalty{0.5f, 0.25f}), read("presence_0.5_frequency_0.25"));
    check_logits(processed(LogitBias{{{5, 1.5f}, {7, -0.5f}, {20, 3.f}}}), read("bias"));
    check_logits(processed(BannedTokens{{1, 2, 25}}), read("banned"));
}

TEST_CASE("the sampling pipeline applies processors in HF's order and draws the specified stream",
          "[generate][sampling]") {
    SamplingOptions o;
    o.repetition_penalty = 1.3f;
    o.presence_penalty = 0.2f, o.frequency_penalty = 0.1f;
    o.logit_bias = {{5, 1.5f}, {7, -0.5f}, {20, 3.f}};
    o.banned_tokens = {1, 2, 25};
    o.temperature = 0.7f, o.top_k = 10, o.top_p = 0.8f, o.min_p = 0.05f;
    o.seed = 1234;
    const auto raw = read("logits");
    const auto h = test::int64s(fixture(), "history");
    const std::vector<std::int32_t> history(h.begin(), h.end());
    const auto V = std::int32_t(raw.size());

    auto logits = raw;
    auto pipeline = make_pipeline(o, V);
    pipeline.apply(logits, history);
    check_logits(logits, read("pipeline"));

    TokenSampler sampler(o, V);
    const auto draws = test::int64s(fixture(), "pipeline_draws");
    int distinct = 0;
    for (std::size_t i = 0; i < draws.size(); ++i) {
        auto x = raw;
        const auto id = sampler.sample(x, history);
        INFO("draw " << i);
        CHECK(id == draws[i]);
        distinct += i > 0 && draws[i] != draws[i - 1];
    }
    CHECK(distinct > 20);  // the reference stream really samples (several tokens survive the filters)
}

TEST_CASE("greedy sampling is the argmax after the penalties, and its distribution is one-hot", "[generate][sampling]") {
    std::vector<float> logits = {1.f, 3.f, 2.9f, -1.f};
    SamplingOptions o;
    o.repetition_penalty = 2.f;  // 3 → 1.5 for the repeated token 1, so token 2 wins
    TokenSampler greedy(o, 4);
    const std::int32_t history[] = {1, 1};
    auto x = logits;
    CHECK(greedy.sample(x, history) == 2);
    x = logits;
    greedy.distribution(x, history);
    CHECK(x == std::vector<float>{0.f, 0.f, 1.f, 0.f});
}

TEST_CASE("bad sampling options are rejected with the reason", "[generate][sampling][errors]") {
    SamplingOptions o;
    o.temperature = -1;
    REQUIRE_THROWS_WITH(make_pipeline(o, 10), Catch::Contains("temperature must be >= 0"));
    o.temperature = 1, o.top_p = 1.5f;
    REQUIRE_THROWS_WITH(make_pipeline(o, 10), Catch::Contains("top_p must be in (0, 1], got 1.5"));
    LogitPipeline direct(10);
    REQUIRE_THROWS_WITH(direct.add(TopP{0.f}), Catch::Contains("TopP: p must be in (0, 1]"));
    o.top_p = 1, o.banned_tokens = {10};
    REQUIRE_THROWS_WITH(make_pipeline(o, 10), Catch::Contains("BannedTokens: token id 10 is outside the vocabulary of 10"));
    LogitPipeline p(3);
    p.add(RepetitionPenalty{1.2f});
    std::vector<float> logits(3);
    const std::int32_t history[] = {0, 7};
    REQUIRE_THROWS_WITH(p.apply(logits, history), Catch::Contains("token id 7 in the history"));
    std::vector<float> wrong(4);
    REQUIRE_THROWS_WITH(p.apply(wrong, history), Catch::Contains("4 logits for a vocabulary of 3"));
}
