// Quantized GEMV/GEMM next to the f32 rows of gemm_bench.cpp (BM_gemv_lamina_f32, BM_gemm_lamina) and the
// read-bandwidth probe (BM_peak_read). GEMV rows report GB/s of bytes actually read (the packed weights with their
// scales, plus the activation vector), to be read against BM_peak_read from the same run.
#include "lamina/core/thread_pool.hpp"
#include "lamina/kernels/quant/quant_gemm.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

using namespace lamina;

namespace {

std::vector<float> random_values(std::int64_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

// Args: M, K, N, threads. A: the activations' precision (int16: q8's two-plane activations).
template <QuantFormat F, QuantActivations A = QuantActivations::int8>
void BM_gemm_quant(benchmark::State& state) {
    const auto M = state.range(0), K = state.range(1), N = state.range(2);
    const int threads = int(state.range(3));
    const auto x = random_values(M * K, 1), w = random_values(N * K, 2);
    const QuantMatrix<F> packed(quantize(TensorView<const float>(w.data(), {N, K}), F), A);
    std::vector<float> y(std::size_t(M * N));
    ThreadPool pool(threads);
    for (auto _ : state) {
        kernels::gemm(TensorView<const float>(x.data(), {M, K}), packed, TensorView<float>(y.data(), {M, N}), {},
                      threads > 1 ? &pool : nullptr);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.counters["GFLOPS"] = benchmark::Counter(2e-9 * double(M * K * N), benchmark::Counter::kIsIterationInvariantRate);
    if (M == 1)
        state.counters["GB/s"] = benchmark::Counter(double(packed.bytes() + sizeof(float) * std::size_t(K)),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

void gemv_grid(benchmark::internal::Benchmark* b) {
    for (auto [K, N] : {std::pair<std::int64_t, std::int64_t>{4096, 4096}, {14336, 4096}})
        for (std::int64_t t : {1, 2}) b->Args({1, K, N, t});
    b->ArgNames({"M", "K", "N", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void gemm_grid(benchmark::internal::Benchmark* b) {
    for (std::int64_t M : {16, 128, 512})
        for (std::int64_t t : {1, 2}) b->Args({M, 4096, 4096, t});
    b->ArgNames({"M", "K", "N", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q8)->Name("BM_gemv_lamina_q8")->Apply(gemv_grid);
BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q4)->Name("BM_gemv_lamina_q4")->Apply(gemv_grid);
BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q8)->Name("BM_gemm_lamina_q8")->Apply(gemm_grid);
BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q8, QuantActivations::int16)
    ->Name("BM_gemv_lamina_q8_int16")
    ->Apply(gemv_grid);
BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q8, QuantActivations::int16)
    ->Name("BM_gemm_lamina_q8_int16")
    ->Apply(gemm_grid);
BENCHMARK_TEMPLATE(BM_gemm_quant, QuantFormat::q4)->Name("BM_gemm_lamina_q4")->Apply(gemm_grid);
