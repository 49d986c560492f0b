// The decode step allocates nothing: this executable replaces the global allocation functions with counting ones
// and decodes 100 tokens (after the prefill) through a decoder with sliding-window (ring cache) and global layers,
// on a thread pool of 2. Its own binary, so the replaced operator new sees nothing but this test.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* counted(std::size_t n, std::size_t align) {
    if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
    const std::size_t size = (std::max<std::size_t>(n, 1) + align - 1) / align * align;
    void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, size) : std::malloc(size);
    if (!p) throw std::bad_alloc();
    return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new[](std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, std::size_t(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return counted(n, alignof(std::max_align_t));
    } catch (...) {
        return nullptr;
    }
}
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
using RopeHalf = Rope<RopeLayout::rotate_half>;
using Local = Block<PreNorm, RmsNorm, Attention<RopeHalf, SlidingWindow>, GatedMlp>;
using Global = Block<PreNorm, RmsNorm, Attention<RopeHalf, Causal>, GatedMlp>;
using Arch = DecoderOnly<TokenEmbedding, Pattern<Local, Global>, RmsNorm>;
}  // namespace

TEST_CASE("a decode step allocates nothing", "[alloc]") {
    ModelConfig c;
    c.d_model = 64, c.n_layers = 4, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16, c.d_ff = 128;
    c.vocab_size = 300, c.max_positions = 1024, c.sliding_window = 16;
    const Model<Arch> model(c, RandomSource(1, 0.2f));
    ThreadPool pool(2);
    auto session = model.session(64);
    std::vector<std::int32_t> prompt(40);
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t(i * 7 % 300);
    std::vector<float> logits(std::size_t(c.vocab_size));
    const TensorView<float> row(logits.data(), {1, c.vocab_size});
    model.forward(session, prompt, row, &pool);

    // The counter sees allocations (so a zero below means something).
    counting = true;
    auto probe = std::make_unique<int>(1);
    counting = false;
    REQUIRE(allocations.exchange(0) == 1);

    std::int32_t token = 0;
    counting = true;
    for (int step = 0; step < 100; ++step) {
        token = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        model.forward(session, std::span(&token, 1), row, &pool);
    }
    counting = false;
    CHECK(allocations.load() == 0);
    CHECK(session.position() == 140);
}
