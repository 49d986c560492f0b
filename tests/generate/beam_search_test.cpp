// Beam search against a PyTorch re-implementation of transformers' _beam_search / _group_beam_search on the
// llama_gqa fixture model (tests/reference/generate.py), beam 1 = greedy, and an exhaustive search on the T5
// encoder-decoder fixture.
#include "lamina/generate/beam_search.hpp"
#include "lamina/generate/generator.hpp"
#include "test_models.hpp"

#include <catch2/catch.hpp>

using namespace lamina;

namespace {

void check_case(const std::string& name, std::int32_t beams, std::int32_t groups, float diversity,
                std::int64_t max_new, float length_penalty, bool early) {
    BeamSearchOptions o;
    o.beams = beams, o.groups = groups, o.diversity_penalty = diversity, o.max_new_tokens = max_new;
    o.length_penalty = length_penalty, o.early_stopping = early, o.eos_ids = test::generate_ids("eos");
    BeamSearch search(test::llama_gqa());
    const auto got = search.search(test::generate_ids("prompt"), o);

    std::vector<std::vector<std::int32_t>> want(1);
    for (const auto t : test::generate_ids(name)) {
        if (t >= 0) want.back().push_back(t);
        else want.emplace_back();
    }
    want.pop_back();
    const auto scores = test::generate_fixture().read(name + "_scores", {});
    INFO(name);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("hypothesis " << i);
        CHECK(got[i].tokens == want[i]);
        CHECK(got[i].score == Approx(scores[i]).epsilon(1e-4));
    }
}
}  // namespace

TEST_CASE("beam search matches transformers' beam search (length penalty, early stopping)", "[generate][beam]") {
    check_case("beam3_lp1", 3, 1, 0.f, 10, 1.f, false);
    check_case("beam4_lp0.5_early", 4, 1, 0.f, 10, 0.5f, true);
    check_case("beam4_lp2", 4, 1, 0.f, 10, 2.f, false);
}

TEST_CASE("diverse beam search matches transformers' group beam search", "[generate][beam]") {
    check_case("diverse4x2", 4, 2, 1.5f, 10, 1.f, false);
    check_case("diverse6x3", 6, 3, 0.8f, 8, 1.f, true);
}

TEST_CASE("one beam is greedy decoding", "[generate][beam]") {
    BeamSearchOptions o;
    o.beams = 1, o.max_new_tokens = 12;
    BeamSearch search(test::llama_gqa());
    const auto got = search.search(test::generate_ids("prompt"), o);
    REQUIRE(got.size() == 1);
    CHECK(got[0].tokens == test::generate_ids("greedy"));
}

TEST_CASE("encoder-decoder beam search with a beam per token is exhaustive", "[generate][beam]") {
    const test::FixtureSource src("t5_v11");
    const test::T5Model model(src.config(), src);
    const auto source = src.ids("encoder_input_ids");
    const std::int32_t start[] = {0};
    const std::int64_t V = model.config().vocab_size;

    // Every two-token continuation, scored by the sum of log-probabilities.
    auto log_softmax = [](std::span<float> x) {
        const float top = *std::max_element(x.begin(), x.end());
        double total = 0;
        for (const float v : x) total += std::exp(double(v - top));
        for (auto& v : x) v = float(v - top - std::log(total));
    };
    auto s = model.session();
    model.encode(s, source);
    std::vector<float> first(static_cast<std::size_t>(V)), second(static_cast<std::size_t>(V));
    model.forward(s, start, TensorView<float>(first.data(), {1, V}));
    log_softmax(first);
    double best = -1e30;
    std::vector<std::int32_t> best_pair;
    for (std::int32_t a = 0; a < V; ++a) {
        auto fork = s;
        model.forward(fork, std::span(&a, 1), TensorView<float>(second.data(), {1, V}));
        log_softmax(second);
        for (std::int32_t b = 0; b < V; ++b)
            if (first[std::size_t(a)] + second[std::size_t(b)] > best) {
                best = first[std::size_t(a)] + second[std::size_t(b)];
                best_pair = {a, b};
            }
    }

    BeamSearchOptions o;
    o.beams = std::int32_t(V), o.max_new_tokens = 2, o.length_penalty = 0.f;
    BeamSearch search(model);
    const auto got = search.search(source, start, o);
    REQUIRE(got.size() == std::size_t(V));
    CHECK(got[0].tokens == best_pair);
    CHECK(got[0].score == Approx(best).epsilon(1e-5));
}

TEST_CASE("beam search rejects beams that do not split into groups", "[generate][beam][errors]") {
    BeamSearchOptions o;
    o.beams = 5, o.groups = 2;
    BeamSearch search(test::llama_gqa());
    REQUIRE_THROWS_WITH(search.search(test::generate_ids("prompt"), o),
                        Catch::Contains("5 beams cannot be split into 2 groups"));
}
