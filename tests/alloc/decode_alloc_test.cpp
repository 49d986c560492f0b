// The decode step allocates nothing: 100 tokens decoded (after the prefill) through a decoder with sliding-window
// (ring cache) and global layers, on a thread pool of 2, under the counting allocator.
#include "counting_allocator.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"

#include <catch2/catch.hpp>

#include <memory>

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
    long before = test::allocations();
    auto probe = std::make_unique<int>(1);
    REQUIRE(test::allocations() - before == 1);

    std::int32_t token = 0;
    before = test::allocations();
    for (int step = 0; step < 100; ++step) {
        token = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        model.forward(session, std::span(&token, 1), row, &pool);
    }
    CHECK(test::allocations() - before == 0);
    CHECK(session.position() == 140);
}
