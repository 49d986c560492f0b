// Per-sequence state: ring KV caches for sliding-window layers, save/restore, fork, truncate, snapshots of
// recurrent state, chunked prefill and batched decoding — each checked against the plain computation it replaces
// (a cache against no cache, a batch against one sequence at a time, chunks against one pass).
#include "lamina/io/tensor_sources.hpp"
#include "lamina/layers/mamba.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace lamina;

namespace {

using RopeHalf = Rope<RopeLayout::rotate_half>;
template <class Mask>
using WindowArch =
    DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Attention<RopeHalf, Mask>, GatedMlp>>, RmsNorm>;
using LlamaArch = WindowArch<Causal>;
using MambaArch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba, NoFfn>>, RmsNorm>;
using HybridArch = DecoderOnly<TokenEmbedding,
                               Pattern<Block<PreNorm, RmsNorm, Mamba, GatedMlp>,
                                       Block<PreNorm, RmsNorm, Attention<RopeHalf, SlidingWindow>, GatedMlp>>,
                               RmsNorm>;

// The sliding-window mask without window(): its layers get a linear cache for the whole context.
struct UnboundedWindow {
    static kernels::KeyRange range(const ModelConfig& c, int h, std::int64_t q) { return SlidingWindow::range(c, h, q); }
};

ModelConfig small_config(int window, int max_positions) {
    ModelConfig c;
    c.d_model = 32, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 8, c.d_ff = 48;
    c.vocab_size = 50, c.max_positions = max_positions, c.sliding_window = window;
    c.ssm_state = 4, c.ssm_conv = 4, c.ssm_expand = 2;
    return c;
}

std::vector<std::int32_t> random_tokens(std::size_t n, int vocab, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) x = std::int32_t(rng() % std::uint32_t(vocab));
    return t;
}

// Logits of every token, fed in calls of `step` tokens.
template <class Arch>
std::vector<float> logits_of(const Model<Arch>& m, typename Model<Arch>::Session& s, std::span<const std::int32_t> ids,
                             std::int64_t step, ThreadPool* pool = nullptr) {
    const std::int64_t V = m.config().vocab_size, T = std::int64_t(ids.size());
    std::vector<float> out(std::size_t(T * V));
    for (std::int64_t t = 0; t < T; t += step) {
        const std::int64_t n = std::min(step, T - t);
        m.forward(s, ids.subspan(std::size_t(t), std::size_t(n)), TensorView<float>(out.data() + t * V, {n, V}), pool);
    }
    return out;
}

}  // namespace

TEST_CASE("a sliding-window layer keeps a ring of its window: exact logits, memory bounded by the window",
          "[models][cache]") {
    const ModelConfig c = small_config(9, 400);
    const RandomSource src(7, 0.3f);
    const Model<WindowArch<SlidingWindow>> ring(c, src);
    const Model<WindowArch<UnboundedWindow>> linear(c, src);
    const auto ids = random_tokens(300, c.vocab_size, 1);

    auto full = linear.session(300);
    const auto expected = logits_of(linear, full, ids, 300);  // one pass, no cache reuse
    auto ring_prefill = ring.session(300);                     // the ring takes the prompt in slices
    CHECK(test::relative_error(logits_of(ring, ring_prefill, ids, 300), expected) <= 1e-5);
    auto ring_decode = ring.session(32);
    ThreadPool pool(2);
    std::vector<float> decoded = logits_of(ring, ring_decode, std::span(ids).first(20), 20, &pool);
    const auto steps = logits_of(ring, ring_decode, std::span(ids).subspan(20), 1, &pool);
    decoded.insert(decoded.end(), steps.begin(), steps.end());
    CHECK(test::relative_error(decoded, expected) <= 1e-5);
    auto linear_decode = linear.session(32);
    linear_decode.truncate(0);
    CHECK(test::relative_error(logits_of(linear, linear_decode, ids, 1), expected) <= 1e-5);

    // Memory: window + KvCache::kRingSlack positions per layer, whatever the context length.
    const std::size_t ring_bytes = ring_decode.state_bytes();
    CHECK(ring_bytes * 3 < linear_decode.state_bytes());
    ModelConfig longer = c;
    longer.max_positions = 40000;
    CHECK(Model<WindowArch<SlidingWindow>>(longer, src).session(1).state_bytes() == ring_bytes);
    for (const KvCache& cache : std::get<0>(ring_decode.state())) {
        CHECK(cache.is_ring());
        CHECK(cache.capacity() <= c.sliding_window - 1 + KvCache::kRingSlack + kernels::kKeyTile);
    }
}

TEST_CASE("an int8 KV cache: a quarter of the bytes, the same logits by any call pattern, close to f32",
          "[models][cache][int8]") {
    ModelConfig c = small_config(9, 400);
    c.head_dim = 32;  // the per-token scale costs 4 bytes per head_dim values
    const RandomSource src(7, 0.3f);
    ModelConfig c8 = c;
    c8.kv_cache = KvPrecision::int8;
    const Model<LlamaArch> f32(c, src), int8(c8, src);
    const Model<WindowArch<SlidingWindow>> ring8(c8, src);
    const auto ids = random_tokens(300, c.vocab_size, 1);
    ThreadPool pool(2);

    // One pass against token by token: the same keys, up to the rare element whose GEMM and GEMV values round to
    // neighbouring int8 steps (measured 2.9e-4 of max |logit|; an f32 cache agrees to 1e-5).
    auto one_pass = int8.session(300);
    const auto expected = logits_of(int8, one_pass, ids, 300);
    auto stepped = int8.session(8);
    CHECK(test::relative_error(logits_of(int8, stepped, ids, 1, &pool), expected) <= 2e-3);
    // Against f32 keys and values: random weights have no dynamic range and amplify every rounding from layer to
    // layer (measured 6.0%; the trained kjv-llama measures 0.43%, quant_accuracy_test). Broken rows land near 100%.
    auto exact = f32.session(300);
    const double drift = test::relative_error(expected, logits_of(f32, exact, ids, 300));
    WARN("int8 KV cache: relative logit error " << drift << " against the f32 cache (random weights, 300 tokens)");
    CHECK(drift <= 0.1);
    CHECK(double(one_pass.state_bytes()) <= 0.3 * double(exact.state_bytes()));

    // A ring of int8 rows, prefilled in slices and decoded token by token, against the linear int8 cache.
    const Model<WindowArch<UnboundedWindow>> linear8(c8, src);
    auto linear = linear8.session(300);
    const auto windowed = logits_of(linear8, linear, ids, 300);
    auto ring_prefill = ring8.session(300), ring_decode = ring8.session(16);
    CHECK(test::relative_error(logits_of(ring8, ring_prefill, ids, 300), windowed) <= 1e-5);
    CHECK(test::relative_error(logits_of(ring8, ring_decode, ids, 1), windowed) <= 2e-3);

    // Fork, truncate, save and restore carry the int8 rows and their scales.
    auto s = int8.session(16);
    logits_of(int8, s, std::span(ids).first(100), 16);
    auto fork = s;
    logits_of(int8, fork, std::span(ids).subspan(200, 30), 1);
    fork.truncate(100);
    std::stringstream stream;
    fork.save(stream);
    auto restored = int8.session(16);
    restored.load(stream);
    const auto rest = logits_of(int8, s, std::span(ids).subspan(100, 50), 1);
    CHECK(logits_of(int8, fork, std::span(ids).subspan(100, 50), 1) == rest);
    CHECK(logits_of(int8, restored, std::span(ids).subspan(100, 50), 1) == rest);
    // An int8 session does not restore into f32 caches.
    std::stringstream again;
    s.save(again);
    auto wrong = f32.session(16);
    CHECK_THROWS_WITH(wrong.load(again), Catch::Contains("KvCache precision"));
}

TEST_CASE("a ring cache rolls back within its slack and refuses beyond it", "[models][cache]") {
    const ModelConfig c = small_config(6, 300);
    const Model<WindowArch<SlidingWindow>> m(c, RandomSource(3, 0.3f));
    const auto ids = random_tokens(200, c.vocab_size, 2);
    auto s = m.session(16);
    const auto expected = logits_of(m, s, ids, 16);
    s.truncate(190);  // back 10 positions
    const auto again = logits_of(m, s, std::span(ids).subspan(190), 1);
    CHECK(test::relative_error(again.data(), expected.data() + 190 * c.vocab_size, again.size()) <= 1e-5);
    CHECK_THROWS_WITH(s.truncate(100), Catch::Contains("no longer holds the window"));
}

TEST_CASE("a session saved to a byte stream restores bit for bit; a foreign stream is refused", "[models][cache]") {
    const test::FixtureSource src("llama_gqa");
    const Model<LlamaArch> m(src.config(), src);
    const auto ids = src.ids("input_ids");
    const auto [prompt, rest] = std::pair{std::span(ids).first(7), std::span(ids).subspan(7)};

    auto s = m.session(4);
    logits_of(m, s, prompt, 4);
    std::stringstream stream;
    s.save(stream);
    const auto continued = logits_of(m, s, rest, 1);

    auto restored = m.session(8);
    restored.load(stream);
    CHECK(restored.position() == 7);
    CHECK(logits_of(m, restored, rest, 1) == continued);

    // Another model shape: refused by the header, naming the first mismatch.
    const test::FixtureSource other_src("qwen2_window");
    const Model<LlamaArch> other(other_src.config(), other_src);
    auto wrong = other.session();
    std::stringstream copy(stream.str());
    CHECK_THROWS_WITH(wrong.load(copy), Catch::Contains("session restore") && Catch::Contains("d_model"));
    // A stream cut short: an error, and the session is left empty rather than half restored.
    std::stringstream cut(stream.str().substr(0, stream.str().size() / 2));
    auto partial = m.session();
    CHECK_THROWS_WITH(partial.load(cut), Catch::Contains("the stream ends inside"));
    CHECK(partial.position() == 0);
    std::stringstream junk("not a session at all");
    CHECK_THROWS_WITH(partial.load(junk), Catch::Contains("not a lamina session"));
}

TEST_CASE("fork and truncate: a copied session continues independently, a truncated one as if never fed",
          "[models][cache]") {
    const test::FixtureSource src("llama_gqa");
    const Model<LlamaArch> m(src.config(), src);
    const auto ids = src.ids("input_ids");
    auto reference = m.session();
    const auto expected = logits_of(m, reference, ids, 1);
    const std::int64_t V = m.config().vocab_size;

    auto s = m.session();
    logits_of(m, s, std::span(ids).first(6), 6);
    auto fork = s;  // a beam
    const std::vector<std::int32_t> other = {3, 1, 4, 1, 5};
    logits_of(m, fork, other, 1);
    const auto rest = logits_of(m, s, std::span(ids).subspan(6), 1);
    CHECK(test::relative_error(rest.data(), expected.data() + 6 * V, rest.size()) <= 1e-5);  // prefill: GEMM, not GEMV

    fork.truncate(6);  // roll the beam back, then follow the original tokens
    CHECK(logits_of(m, fork, std::span(ids).subspan(6), 1) == rest);
    CHECK_THROWS_WITH(fork.truncate(99), Catch::Contains("outside 0.."));
}

TEST_CASE("Mamba state: save/restore and snapshot/restore replace truncation", "[models][cache]") {
    const test::FixtureSource src("mamba1");
    const Model<MambaArch> m(src.config(), src);
    const auto ids = src.ids("input_ids");
    const auto prompt = std::span(ids).first(5), rest = std::span(ids).subspan(5);

    auto s = m.session();
    logits_of(m, s, prompt, 5);
    CHECK_THROWS_WITH(s.truncate(3), Catch::Contains("snapshot"));
    const auto snap = s.snapshot();
    std::stringstream stream;
    s.save(stream);
    const auto expected = logits_of(m, s, rest, 1);

    // Speculative rollback: draft tokens go in, the snapshot brings the state back, the real tokens follow.
    const std::vector<std::int32_t> draft = {9, 8, 7};
    logits_of(m, s, draft, 3);
    s.restore(snap);
    CHECK(s.position() == 5);
    CHECK(logits_of(m, s, rest, 1) == expected);

    auto loaded = m.session();
    loaded.load(stream);
    CHECK(logits_of(m, loaded, rest, 1) == expected);
}

TEST_CASE("chunked prefill equals one pass, with scratch bounded by the chunk", "[models][cache]") {
    const ModelConfig c = small_config(0, 256);
    const Model<HybridArch> m(c, RandomSource(5, 0.3f));
    const auto ids = random_tokens(200, c.vocab_size, 3);
    auto whole = m.session(200), chunked = m.session(16);
    const auto expected = logits_of(m, whole, ids, 200);
    CHECK(test::relative_error(logits_of(m, chunked, ids, 200), expected) <= 1e-5);
    CHECK(chunked.scratch_bytes() * 4 < whole.scratch_bytes());
    CHECK(m.session(16).scratch_bytes() == chunked.scratch_bytes());
}

TEST_CASE("batched decoding: sequences at different positions advance together as they would alone",
          "[models][batch]") {
    const ModelConfig c = small_config(5, 128);
    const RandomSource src(9, 0.3f);
    auto check = [&]<class Arch>(std::type_identity<Arch>) {
        const Model<Arch> m(c, src);
        const std::int64_t V = c.vocab_size;
        const std::vector<std::size_t> prompt_lengths = {5, 17, 2};
        std::vector<typename Model<Arch>::Session> batch, alone;
        std::vector<std::vector<std::int32_t>> seqs;
        for (std::size_t b = 0; b < prompt_lengths.size(); ++b) {
            seqs.push_back(random_tokens(prompt_lengths[b] + 6, c.vocab_size, std::uint32_t(10 + b)));
            batch.push_back(m.session(8));
            logits_of(m, batch.back(), std::span(seqs[b]).first(prompt_lengths[b]), 8);
            alone.push_back(batch.back());
        }
        ThreadPool pool(2);
        double worst = 0;
        for (std::size_t step = 0; step < 6; ++step) {
            std::vector<typename Model<Arch>::Session*> ptrs;
            std::vector<std::int32_t> tokens;
            for (std::size_t b = 0; b < batch.size(); ++b) {
                ptrs.push_back(&batch[b]);
                tokens.push_back(seqs[b][prompt_lengths[b] + step]);
            }
            std::vector<float> logits(tokens.size() * std::size_t(V));
            m.forward_batch(ptrs, tokens, TensorView<float>(logits.data(), {std::int64_t(tokens.size()), V}), &pool);
            for (std::size_t b = 0; b < batch.size(); ++b) {
                const auto one = logits_of(m, alone[b], std::span(&tokens[b], 1), 1, &pool);
                worst = std::max(worst, test::relative_error(logits.data() + b * std::size_t(V), one.data(), one.size()));
                CHECK(batch[b].position() == alone[b].position());
            }
        }
        // Not bit-exact: one row runs the GEMV kernel (four interleaved partial sums over K), several rows the
        // GEMM micro-kernel (one running sum), so the projections round differently in the last bits.
        CHECK(worst <= 1e-5);
    };
    check(std::type_identity<WindowArch<SlidingWindow>>{});
    check(std::type_identity<HybridArch>{});
}
