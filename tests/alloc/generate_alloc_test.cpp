// The generators allocate per generation (sampler scratch, the result), never per token: a generation of 50
// tokens makes exactly as many heap allocations as one of 10 (under the counting allocator).
#include "counting_allocator.hpp"
#include "generate/test_models.hpp"
#include "lamina/generate/prompt_lookup.hpp"
#include "lamina/generate/speculative.hpp"

#include <catch2/catch.hpp>

using namespace lamina;

namespace {
template <class Generate>
long allocations_for(std::int64_t tokens, Generate&& generate) {
    GenerationOptions o;
    o.sampling.temperature = 0.9f, o.sampling.top_k = 20, o.sampling.top_p = 0.9f, o.sampling.min_p = 0.01f;
    o.sampling.repetition_penalty = 1.1f, o.sampling.frequency_penalty = 0.1f;
    o.stop.max_new_tokens = tokens;
    generate(o);  // warm-up: scratch that grows to its steady size
    const long before = test::allocations();
    const auto r = generate(o);
    REQUIRE(std::int64_t(r.tokens.size()) == tokens);
    return test::allocations() - before;
}
}  // namespace

TEST_CASE("generators allocate per generation, not per token", "[generate][alloc]") {
    const test::FixtureSource src("llama_gqa");
    const test::LlamaModel model(src.config(), src);
    const std::vector<std::int32_t> prompt = {1, 2, 3, 1, 2};

    Generator gen(model);
    auto plain = [&](const GenerationOptions& o) { return gen.generate(prompt, o); };
    CHECK(allocations_for(10, plain) == allocations_for(50, plain));

    PromptLookupDrafter lookup(2);
    SpeculativeGenerator by_lookup(model, lookup, 4);
    auto looked_up = [&](const GenerationOptions& o) { return by_lookup.generate(prompt, o); };
    CHECK(allocations_for(10, looked_up) == allocations_for(50, looked_up));

    ModelDrafter drafter(model);
    SpeculativeGenerator by_model(model, drafter, 3);
    auto drafted = [&](const GenerationOptions& o) { return by_model.generate(prompt, o); };
    CHECK(allocations_for(10, drafted) == allocations_for(50, drafted));

    auto self = self_speculative_drafter(model, std::vector{1});
    SpeculativeGenerator by_itself(model, self, 3);
    auto self_drafted = [&](const GenerationOptions& o) { return by_itself.generate(prompt, o); };
    CHECK(allocations_for(10, self_drafted) == allocations_for(50, self_drafted));

    auto contrasted = [&](GenerationOptions o) {
        o.dola = DolaOptions{.layers = 1, .alpha = 0.1f};
        return gen.generate(prompt, o);
    };
    CHECK(allocations_for(10, contrasted) == allocations_for(50, contrasted));
}
