// The generators allocate per generation (sampler scratch, the result), never per token: a generation of 60
// tokens makes exactly as many heap allocations as one of 10. Its own binary, because it replaces the global
// operator new to count allocations.
#include "lamina/generate/prompt_lookup.hpp"
#include "lamina/generate/speculative.hpp"
#include "test_models.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> allocations{0};

void* counted(std::size_t n, std::size_t align) {
    ++allocations;
    const std::size_t size = (std::max<std::size_t>(n, 1) + align - 1) / align * align;
    if (void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, size) : std::malloc(size)) return p;
    throw std::bad_alloc();
}
}  // namespace

// Every replaceable allocation form, so nothing escapes the count; each delete matches a malloc-family allocation.
void* operator new(std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new[](std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace lamina;

namespace {
template <class Generate>
long allocations_for(std::int64_t tokens, Generate&& generate) {
    GenerationOptions o;
    o.sampling.temperature = 0.9f, o.sampling.top_k = 20, o.sampling.top_p = 0.9f, o.sampling.min_p = 0.01f;
    o.sampling.repetition_penalty = 1.1f, o.sampling.frequency_penalty = 0.1f;
    o.stop.max_new_tokens = tokens;
    generate(o);  // warm-up: scratch that grows to its steady size
    const long before = allocations.load();
    const auto r = generate(o);
    REQUIRE(std::int64_t(r.tokens.size()) == tokens);
    return allocations.load() - before;
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
}
