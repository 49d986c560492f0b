// Generator: greedy decoding against PyTorch (tests/reference/generate.py on the llama_gqa fixture), seeded
// sampling reproducible and independent of the thread count, stop conditions and streaming, encoder-decoders.
#include "lamina/generate/generator.hpp"
#include "test_models.hpp"

#include <catch2/catch.hpp>

using namespace lamina;

TEST_CASE("greedy generation matches PyTorch's greedy decoding", "[generate]") {
    Generator gen(test::llama_gqa(), nullptr, nullptr, 2);  // chunked prefill on the way
    GenerationOptions o;
    o.stop.max_new_tokens = 12;
    const auto r = gen.generate(test::generate_ids("prompt"), o);
    CHECK(r.tokens == test::generate_ids("greedy"));
    CHECK(r.reason == StopReason::max_tokens);
    CHECK(gen.tokens().size() == test::generate_ids("prompt").size() + 12);
}

TEST_CASE("a seed reproduces a sampled run exactly, whatever the thread count", "[generate]") {
    GenerationOptions o;
    o.sampling.temperature = 1.2f, o.sampling.top_k = 20, o.sampling.top_p = 0.95f, o.sampling.seed = 7;
    o.sampling.repetition_penalty = 1.1f;
    o.stop.max_new_tokens = 30;
    ThreadPool one(1), two(2);
    Generator a(test::llama_gqa(), &one), b(test::llama_gqa(), &two), c(test::llama_gqa());
    const auto prompt = test::generate_ids("prompt");
    const auto ra = a.generate(prompt, o), rb = b.generate(prompt, o), rc = c.generate(prompt, o);
    CHECK(ra.tokens == rb.tokens);
    CHECK(ra.tokens == rc.tokens);
    CHECK(a.generate(prompt, o).tokens == ra.tokens);  // the generator is reusable
    o.sampling.seed = 8;
    CHECK(a.generate(prompt, o).tokens != ra.tokens);
    CHECK(ra.tokens != test::generate_ids("greedy"));
}

TEST_CASE("generation stops at EOS, at the budget, at the callback's request and at the context end", "[generate]") {
    Generator gen(test::llama_gqa());
    const auto prompt = test::generate_ids("prompt"), greedy = test::generate_ids("greedy");
    GenerationOptions o;
    o.stop.max_new_tokens = 12;
    o.stop.eos_ids = {99, greedy[3]};
    std::vector<std::int32_t> streamed;
    auto r = gen.generate(prompt, o, [&](std::int32_t id, std::string_view text) {
        streamed.push_back(id);
        CHECK(text.empty());  // no tokenizer
    });
    CHECK(r.reason == StopReason::eos);
    CHECK(r.tokens == std::vector<std::int32_t>(greedy.begin(), greedy.begin() + 4));
    CHECK(streamed == r.tokens);

    o.stop.eos_ids.clear();
    r = gen.generate(prompt, o, [&](std::int32_t, std::string_view) { return false; });
    CHECK(r.reason == StopReason::callback);
    CHECK(r.tokens.size() == 1);

    o.stop.max_new_tokens = 0;
    CHECK(gen.generate(prompt, o).tokens.empty());

    o.stop.max_new_tokens = 1000;
    r = gen.generate(prompt, o);
    CHECK(r.reason == StopReason::context_full);
    CHECK(std::int64_t(gen.tokens().size()) == test::llama_gqa().config().max_positions);
    CHECK(std::equal(greedy.begin(), greedy.end(), r.tokens.begin()));
}

TEST_CASE("stop strings are found in the decoded text, also across token boundaries", "[generate]") {
    const Tokenizer tok = Tokenizer::from_vocab_merges(std::string(LAMINA_FIXTURE_DIR) + "/tokenizers/gpt2/vocab.json",
                                                       std::string(LAMINA_FIXTURE_DIR) + "/tokenizers/gpt2/merges.txt");
    const auto text_ids = tok.encode("The cat sat. Then it left, quietly.");
    StopConditions c;
    c.max_new_tokens = 100;
    c.stop_strings = {"it le", "zzz"};  // "it le" spans the tokens " it" and " left"
    StopChecker stop(c, &tok);
    std::string streamed;
    auto on_token = [&](std::int32_t, std::string_view text) { streamed += text; };
    std::size_t stopped_at = 0;
    for (; stopped_at < text_ids.size(); ++stopped_at)
        if (const auto why = stop.push(text_ids[stopped_at], on_token)) {
            CHECK(*why == StopReason::stop_string);
            break;
        }
    REQUIRE(stopped_at < text_ids.size());
    CHECK(streamed == tok.decode(std::span(text_ids).first(stopped_at + 1)));
    CHECK(streamed.find("it le") != std::string::npos);
    CHECK(tok.decode(std::span(text_ids).first(stopped_at)).find("it le") == std::string::npos);

    StopConditions needs_tokenizer;
    needs_tokenizer.stop_strings = {"x"};
    REQUIRE_THROWS_WITH(StopChecker(needs_tokenizer, nullptr), Catch::Contains("stop strings need a tokenizer"));
}

TEST_CASE("encoder-decoder generation encodes once and decodes greedily through the cache", "[generate]") {
    const test::FixtureSource src("t5_v11");
    const test::T5Model model(src.config(), src);
    const auto source = src.ids("encoder_input_ids");
    const std::int32_t start[] = {0};
    Generator gen(model);
    GenerationOptions o;
    o.stop.max_new_tokens = 10;
    const auto r = gen.generate(source, start, o);
    REQUIRE(r.tokens.size() == 10);

    // Reference: the whole target re-run from scratch at every step, argmax of the last row.
    const std::int64_t V = model.config().vocab_size;
    std::vector<std::int32_t> target = {0};
    for (int step = 0; step < 10; ++step) {
        auto s = model.session();
        model.encode(s, source);
        std::vector<float> logits(target.size() * std::size_t(V));
        model.forward(s, target, TensorView<float>(logits.data(), {std::int64_t(target.size()), V}));
        const auto last = std::span(logits).last(std::size_t(V));
        target.push_back(std::int32_t(std::max_element(last.begin(), last.end()) - last.begin()));
    }
    CHECK(r.tokens == std::vector<std::int32_t>(target.begin() + 1, target.end()));
}

// DoLa through the Generator, against its definition computed here: the early layer's logits are those of the same
// model with the later layers skipped (the logit lens = final norm and LM head after layer 0 of llama_gqa's two),
// the score is log p_final - log p_early over the tokens with p_final >= alpha * max p_final, and the sampler's
// processors (here a repetition penalty and seeded sampling) then act on those scores.
TEST_CASE("DoLa in a Generator scores the contrast of the final and an early layer", "[generate][dola]") {
    const std::int64_t V = test::llama_gqa().config().vocab_size;
    const auto prompt = test::generate_ids("prompt");
    GenerationOptions o;
    o.stop.max_new_tokens = 16;
    o.sampling.repetition_penalty = 1.3f;
    o.dola = DolaOptions{.layers = 1, .alpha = 0.1f};

    const auto reference = [&](const SamplingOptions& sampling) {
        auto full = test::llama_gqa().session();
        auto early = test::llama_gqa().session(256, LayerSchedule::skipping(2, std::vector{1}));
        std::vector<float> f(static_cast<std::size_t>(V)), e(static_cast<std::size_t>(V));
        std::vector<std::int32_t> history = prompt, out;
        TokenSampler sampler(sampling, std::int32_t(V));
        std::span<const std::int32_t> feed = prompt;
        for (int step = 0; step < 16; ++step) {
            test::llama_gqa().forward(full, feed, TensorView<float>(f.data(), {1, V}));
            test::llama_gqa().forward(early, feed, TensorView<float>(e.data(), {1, V}));
            const auto log_softmax = [](std::vector<float>& x) {
                double z = 0;
                const float m = *std::max_element(x.begin(), x.end());
                for (float v : x) z += std::exp(double(v) - m);
                for (float& v : x) v = float(double(v) - m - std::log(z));
            };
            log_softmax(f), log_softmax(e);
            const float cut = *std::max_element(f.begin(), f.end()) + std::log(0.1f);
            for (std::size_t i = 0; i < f.size(); ++i)
                f[i] = f[i] < cut ? -std::numeric_limits<float>::infinity() : f[i] - e[i];
            history.push_back(sampler.sample(f, history));
            out.push_back(history.back());
            feed = std::span(&history.back(), 1);
        }
        return out;
    };

    Generator gen(test::llama_gqa());
    const auto greedy = gen.generate(prompt, o).tokens;
    CHECK(greedy == reference(o.sampling));
    o.sampling.temperature = 0.9f, o.sampling.seed = 5;
    const auto sampled = gen.generate(prompt, o).tokens;
    CHECK(sampled == reference(o.sampling));

    // The contrast changes what is generated (the test can tell DoLa from plain decoding).
    auto plain = o;
    plain.dola.reset();
    plain.sampling.temperature = 0.f;
    CHECK(gen.generate(prompt, plain).tokens != greedy);

    o.dola->layers = 2;  // the lens must be an earlier layer than the last
    CHECK_THROWS_WITH(gen.generate(prompt, o), Catch::Contains("lens layer 2 is outside 1..1"));
    o.dola = DolaOptions{.layers = 1, .alpha = 0.f};
    CHECK_THROWS_WITH(gen.generate(prompt, o), Catch::Contains("alpha 0 is outside (0, 1]"));
}
