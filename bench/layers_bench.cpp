// Per-layer benchmarks: the fused attention kernel (prefill: T causal queries over T keys; decode: one query over a
// T-long cache) and a SwiGLU FFN layer, at T ∈ {128, 1024, 4096}. Counters: GFLOPS (compare with BM_peak_fma) and,
// for decode, GB/s of K/V cache read (compare with BM_peak_read at a similar size).
#include "lamina/io/tensor_sources.hpp"
#include "lamina/layers.hpp"

#include <benchmark/benchmark.h>

#include <random>

using namespace lamina;

namespace {

// Llama-style head geometry: 16 query heads sharing 4 K/V heads of 64 dims.
constexpr int kHeads = 16, kKvHeads = 4, kHeadDim = 64;

struct CausalScores {
    std::int64_t pos0;
    static constexpr bool adjusts_scores = false;
    kernels::KeyRange range(int, std::int64_t i) const { return {0, pos0 + i + 1}; }
    simd::FloatV adjust(int, std::int64_t, std::int64_t, simd::FloatV s) const { return s; }
};

struct AttentionProblem {
    KvCache cache;
    std::vector<float> q, out;
    Arena arena;
    AttentionProblem(std::int64_t keys, std::int64_t queries, KvPrecision precision = KvPrecision::f32)
        : cache(kKvHeads, kHeadDim, keys, precision), q(std::size_t(queries * kHeads * kHeadDim)), out(q.size()),
          arena(kernels::attention_scratch_bytes(kHeads, kHeadDim, keys)) {
        std::mt19937 rng(1);
        std::normal_distribution<float> dist;
        std::vector<float> kv(std::size_t(keys * kKvHeads * kHeadDim));
        for (auto& x : kv) x = dist(rng);
        cache.append(kv.data(), kv.data(), kKvHeads * kHeadDim, keys);
        for (auto& x : q) x = dist(rng);
    }
    void run(std::int64_t queries, ThreadPool* pool) {
        const kernels::AttentionShape shape{kHeads, kKvHeads, kHeadDim, queries, cache.size(), 0.125f, 0.f};
        cache.with_views([&](auto keys, auto values) {
            kernels::attention(shape, q.data(), kHeads * kHeadDim, keys, values, out.data(), kHeads * kHeadDim,
                               CausalScores{cache.size() - queries}, arena, pool);
        });
    }
};

// Args: T, threads.
void BM_attention_prefill(benchmark::State& state) {
    const std::int64_t T = state.range(0);
    ThreadPool pool(int(state.range(1)));
    AttentionProblem p(T, T);
    for (auto _ : state) p.run(T, &pool);
    // q·kᵀ and p·v over the causal half: 2 · 2 · hd flops per visible (query, key) pair and head.
    const double pairs = double(T) * double(T + 1) / 2;
    state.counters["GFLOPS"] =
        benchmark::Counter(4.0 * kHeadDim * kHeads * pairs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One query over a cache of T keys; GB/s counts the cache bytes read (keys, values and, for int8, their scales).
void attention_decode(benchmark::State& state, KvPrecision precision) {
    const std::int64_t T = state.range(0);
    ThreadPool pool(int(state.range(1)));
    AttentionProblem p(T, 1, precision);
    for (auto _ : state) p.run(1, &pool);
    const double bytes_per_key =
        precision == KvPrecision::f32 ? kHeadDim * sizeof(float) : kHeadDim * sizeof(std::int8_t) + sizeof(float);
    state.counters["GFLOPS"] =
        benchmark::Counter(4.0 * kHeadDim * kHeads * double(T) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GB/s"] = benchmark::Counter(2.0 * double(T) * kKvHeads * bytes_per_key,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
void BM_attention_decode(benchmark::State& state) { attention_decode(state, KvPrecision::f32); }
void BM_attention_decode_int8(benchmark::State& state) { attention_decode(state, KvPrecision::int8); }

// A SwiGLU FFN of a ~1B Llama (d 2048, ff 5632) over T rows. Args: T, threads.
void BM_ffn_swiglu(benchmark::State& state) {
    const std::int64_t T = state.range(0);
    ModelConfig c;
    c.d_model = 2048, c.d_ff = 5632, c.activation = Activation::silu;
    GatedMlp::Weights w;
    const RandomSource source(1);
    WeightLoader<RandomSource> loader(source, DType::f32);
    w.visit(loader, "ffn", c);
    ThreadPool pool(int(state.range(1)));
    Arena arena(GatedMlp::scratch_bytes(c, T));
    std::vector<float> x(std::size_t(T * c.d_model), 0.1f), y(x.size());
    const ForwardContext ctx{&pool, &arena, nullptr, 0, {}};
    for (auto _ : state)
        GatedMlp::forward(w, c, TensorView<const float>(x.data(), {T, c.d_model}),
                          TensorView<float>(y.data(), {T, c.d_model}), ctx);
    const double weights = 3.0 * double(c.d_model) * double(c.d_ff);
    state.counters["GFLOPS"] = benchmark::Counter(2.0 * weights * double(T) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GB/s"] = benchmark::Counter(weights * sizeof(float), benchmark::Counter::kIsIterationInvariantRate);
}

void lengths(benchmark::internal::Benchmark* b) {
    for (std::int64_t T : {128, 1024, 4096})
        for (std::int64_t t : {1, 2}) b->Args({T, t});
    b->ArgNames({"T", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_attention_prefill)->Apply(lengths);
BENCHMARK(BM_attention_decode)->Apply(lengths);
BENCHMARK(BM_attention_decode_int8)->Apply(lengths);
BENCHMARK(BM_ffn_swiglu)->ArgsProduct({{1, 128}, {1, 2}})->ArgNames({"T", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
