// Concurrency and determinism. A loaded Model is immutable and shared: N threads each decoding their own session get
// exactly the outputs of running the sessions one after another (CI runs this file under ThreadSanitizer). Greedy
// decoding is bit-identical across thread counts and across runs, and so is seeded sampling, also when generators run
// concurrently, over a context longer than the attention
// kernel's 512-key split. A session generates to the full context without a heap allocation after the first token,
// then refuses the next token with an error.
#include "lamina/generate/generator.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"
#include "sanitized.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

// Counts every heap allocation in this test binary, to show the decode path makes none. Sanitizer runtimes define
// operator new themselves, so sanitized builds do not count. GCC cannot see that the replaced operator delete frees
// exactly what the replaced operator new took from malloc.
namespace {
std::atomic<std::size_t> g_allocations{0};
}
#if !LAMINA_TEST_SANITIZED
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const std::size_t align = std::max(std::size_t(a), sizeof(void*));
    if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#endif

using namespace lamina;

namespace {

using Local = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, SlidingWindow>, GatedMlp>;
using Global = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>;
using Arch = DecoderOnly<TokenEmbedding, Pattern<Local, Global>, RmsNorm>;

const Model<Arch>& shared_model() {
    static const Model<Arch> model = [] {
        ModelConfig c;
        c.d_model = 128, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 32, c.d_ff = 256;
        c.vocab_size = 512, c.max_positions = 600, c.sliding_window = 48;
        return Model<Arch>(c, RandomSource(7, 0.08f));
    }();
    return model;
}

// Every logit of a greedy decode: the prompt's last row, then one row per generated token.
std::vector<float> greedy(std::span<const std::int32_t> prompt, std::int64_t steps, ThreadPool* pool) {
    const auto& model = shared_model();
    const std::int64_t V = model.config().vocab_size;
    auto session = model.session(16);
    std::vector<float> trace(std::size_t((steps + 1) * V));
    model.forward(session, prompt, TensorView<float>(trace.data(), {1, V}), pool);
    for (std::int64_t t = 1; t <= steps; ++t) {
        const float* prev = trace.data() + (t - 1) * V;
        const auto next = std::int32_t(std::max_element(prev, prev + V) - prev);
        model.forward(session, std::span(&next, 1), TensorView<float>(trace.data() + t * V, {1, V}), pool);
    }
    return trace;
}

std::vector<std::int32_t> prompt(std::uint32_t seed, std::size_t n) {
    std::vector<std::int32_t> p(n);
    for (auto& id : p) id = std::int32_t((seed = seed * 1664525u + 1013904223u) >> 23);  // < 512
    return p;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * std::size_t(sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("one model shared by threads, each with its own session, matches running them in turn", "[threads]") {
    constexpr int kThreads = 4;
    constexpr std::int64_t kSteps = 24;
    std::vector<std::vector<float>> sequential, concurrent(kThreads);
    for (int i = 0; i < kThreads; ++i) sequential.push_back(greedy(prompt(std::uint32_t(i), 20 + std::size_t(i)), kSteps, nullptr));

    // Threads 0 and 1 share one pool (a region started while another runs executes inline), 2 has its own, 3 none.
    ThreadPool shared_pool(2), own_pool(2);
    ThreadPool* pools[kThreads] = {&shared_pool, &shared_pool, &own_pool, nullptr};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] { concurrent[std::size_t(i)] = greedy(prompt(std::uint32_t(i), 20 + std::size_t(i)), kSteps, pools[i]); });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kThreads; ++i) {
        INFO("thread " << i);
        CHECK(bit_identical(concurrent[std::size_t(i)], sequential[std::size_t(i)]));
    }
    CHECK_FALSE(bit_identical(sequential[0], sequential[1]));  // the prompts differ, so must the outputs
}

TEST_CASE("greedy decoding is bit-identical across thread counts 1, 2, 4 and across runs", "[threads]") {
    // 40 prompt tokens in chunks of 16, then decoding past 512 positions (the split-KV chunk of decode attention).
    const auto p = prompt(99, 40);
    const std::int64_t steps = 560 - 40;
    const auto reference = greedy(p, steps, nullptr);
    for (const int n : {1, 2, 4}) {
        ThreadPool pool(n);
        for (int run = 0; run < 2; ++run) {
            INFO(n << " threads, run " << run);
            CHECK(bit_identical(greedy(p, steps, &pool), reference));
        }
    }
}

TEST_CASE("seeded sampling gives the same tokens in concurrent generators and at any thread count", "[threads]") {
    GenerationOptions o;
    o.sampling.temperature = 1.3f, o.sampling.top_k = 40, o.sampling.top_p = 0.9f, o.sampling.min_p = 0.01f;
    o.sampling.repetition_penalty = 1.1f, o.sampling.seed = 11;
    o.stop.max_new_tokens = 48;
    const auto p = prompt(5, 24);
    const auto run = [&](ThreadPool* pool, std::uint64_t seed) {
        Generator gen(shared_model(), pool, nullptr, 16);
        GenerationOptions mine = o;
        mine.sampling.seed = seed;
        return gen.generate(p, mine).tokens;
    };
    constexpr int kThreads = 4;
    std::vector<std::vector<std::int32_t>> sequential;
    for (int i = 0; i < kThreads; ++i) sequential.push_back(run(nullptr, std::uint64_t(11 + i % 2)));
    REQUIRE(sequential[0].size() == 48);
    CHECK(sequential[0] == sequential[2]);
    CHECK(sequential[0] != sequential[1]);  // another seed, another sample

    ThreadPool shared_pool(2), own_pool(4);
    ThreadPool* pools[kThreads] = {&shared_pool, &shared_pool, &own_pool, nullptr};
    std::vector<std::vector<std::int32_t>> concurrent(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] { concurrent[std::size_t(i)] = run(pools[i], std::uint64_t(11 + i % 2)); });
    for (auto& t : threads) t.join();
    for (int i = 0; i < kThreads; ++i) {
        INFO("thread " << i);
        CHECK(concurrent[std::size_t(i)] == sequential[std::size_t(i)]);
    }
}

TEST_CASE("generation runs to the full context without allocating, then stops with an error", "[threads]") {
    const auto& model = shared_model();
    const std::int64_t V = model.config().vocab_size, context = model.config().max_positions;
    ThreadPool pool(2);
    auto session = model.session(16);
    std::vector<float> logits(static_cast<std::size_t>(V));
    const TensorView<float> last(logits.data(), {1, V});
    const auto p = prompt(5, 30);
    model.forward(session, p, last, &pool);
    std::int32_t next = 0;
    auto step = [&] {
        next = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        model.forward(session, std::span(&next, 1), last, &pool);
    };
    step();  // the first generated token
    const std::size_t rss = resident_bytes();  // (reading /proc allocates: before the count starts)
    const std::size_t allocations = g_allocations.load();
    while (session.position() < context) step();
    const std::size_t grown_allocations = g_allocations.load() - allocations;
    const std::ptrdiff_t grown_rss = std::ptrdiff_t(resident_bytes()) - std::ptrdiff_t(rss);
    CHECK(session.position() == context);
    // Sanitizer runtimes own the allocator (quarantine, shadow pages), so neither count says anything there.
    if (!LAMINA_TEST_SANITIZED) {
        CHECK(grown_allocations == 0);
        INFO("resident memory grew by " << grown_rss << " bytes over " << context - 31 << " tokens");
        CHECK(grown_rss < 256 * 1024);  // the KV caches are allocated and zeroed up front
    }
    try {
        step();
        FAIL("a token past the context was accepted");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("600 + 1 tokens exceed the context of 600"));
    }
    CHECK(session.position() == context);
    session.truncate(context - 1);  // rolling back frees room for exactly one more token
    CHECK_NOTHROW(step());
}
