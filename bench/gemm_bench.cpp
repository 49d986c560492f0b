// GEMM and GEMV side by side with Eigen 3.4 (noalias product, single-threaded) and, when found, OpenBLAS (run with
// OPENBLAS_CORETYPE=SkylakeX: Debian's build misdetects this CPU otherwise). Every row reports GFLOPS; GEMV rows
// also GB/s of weights read, to be read against BM_peak_fma / BM_peak_read from the same run.
#include "lamina/core.hpp"
#include "lamina/kernels/gemm.hpp"

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <random>

#if LAMINA_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

using namespace lamina;

namespace {

EigenRowMajor<float> random_matrix(std::int64_t rows, std::int64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    EigenRowMajor<float> m(rows, cols);
    for (std::int64_t i = 0; i < m.size(); ++i) m.data()[i] = dist(rng);
    return m;
}

void set_flops(benchmark::State& state, double flops_per_iter) {
    state.counters["GFLOPS"] =
        benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: M, K, N, threads.
template <class WT>
void BM_gemm_lamina(benchmark::State& state) {
    const auto M = state.range(0), K = state.range(1), N = state.range(2);
    const int threads = int(state.range(3));
    const auto x = random_matrix(M, K, 1), w = random_matrix(N, K, 2);
    const PackedMatrix<WT> packed(view_of(w));
    EigenRowMajor<float> y(M, N);
    ThreadPool pool(threads);
    for (auto _ : state) {
        kernels::gemm(view_of(x), packed, view_of(y), {}, threads > 1 ? &pool : nullptr);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * double(M) * double(K) * double(N));
    if (M == 1)
        state.counters["GB/s"] = benchmark::Counter(double(packed.bytes()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gemm_eigen(benchmark::State& state) {
    const auto M = state.range(0), K = state.range(1), N = state.range(2);
    const auto x = random_matrix(M, K, 1), w = random_matrix(N, K, 2);
    EigenRowMajor<float> y(M, N);
    for (auto _ : state) {
        y.noalias() = x * w.transpose();
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * double(M) * double(K) * double(N));
}

#if LAMINA_HAVE_OPENBLAS
void BM_gemm_openblas(benchmark::State& state) {
    const auto M = state.range(0), K = state.range(1), N = state.range(2);
    openblas_set_num_threads(int(state.range(3)));
    const auto x = random_matrix(M, K, 1), w = random_matrix(N, K, 2);
    EigenRowMajor<float> y(M, N);
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(N), int(K), 1.f, x.data(), int(K), w.data(),
                    int(K), 0.f, y.data(), int(N));
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * double(M) * double(K) * double(N));
}
#endif

// Few token rows against weights streamed from memory, as in a speculative verify pass (M = k + 1 drafted rows) or
// a small batched decode: a ring of matrices totalling ≥ 96 MB (more than the L3) is cycled, so every call reads
// its weights from DRAM the way one layer of a decode step does. Counters: weight GB/s and GFLOPS, to be read
// against BM_peak_read / BM_peak_fma. Ideally the time is flat in M until the FMA peak is reached.
// Args: M, K, N.
template <class WT>
void BM_gemm_small_m(benchmark::State& state) {
    const auto M = state.range(0), K = state.range(1), N = state.range(2);
    const auto x = random_matrix(M, K, 1), w = random_matrix(N, K, 2);
    const PackedMatrix<WT> one(view_of(w));
    std::vector<PackedMatrix<WT>> ring(std::size_t((96 << 20) / one.bytes() + 1), one);
    EigenRowMajor<float> y(M, N);
    std::size_t next = 0;
    for (auto _ : state) {
        kernels::gemm(view_of(x), ring[next], view_of(y));
        next = (next + 1) % ring.size();
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * double(M) * double(K) * double(N));
    state.counters["GB/s"] = benchmark::Counter(double(one.bytes()), benchmark::Counter::kIsIterationInvariantRate);
}

void small_m_grid(benchmark::internal::Benchmark* b) {
    for (auto [K, N] : {std::pair<std::int64_t, std::int64_t>{512, 3072}, {4096, 4096}})
        for (std::int64_t M : {1, 2, 3, 4, 5, 8, 9, 12, 16, 17, 24, 32}) b->Args({M, K, N});
    b->ArgNames({"M", "K", "N"})->Unit(benchmark::kMicrosecond);
}

// The grid: M ∈ {1, 16, 128, 512} × (K, N) ∈ {(768,768), (768,3072), (3072,768), (4096,4096)}.
void gemm_grid(benchmark::internal::Benchmark* b, bool with_threads) {
    for (std::int64_t M : {1, 16, 128, 512})
        for (auto [K, N] : {std::pair<std::int64_t, std::int64_t>{768, 768}, {768, 3072}, {3072, 768}, {4096, 4096}})
            for (std::int64_t t : {1, 2})
                if (with_threads || t == 1) b->Args({M, K, N, t});
    b->ArgNames({"M", "K", "N", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

// Decode-shaped products: GEMV over 4096×4096 and the 14336-wide FFN down projection.
void gemv_grid(benchmark::internal::Benchmark* b) {
    for (auto [K, N] : {std::pair<std::int64_t, std::int64_t>{4096, 4096}, {14336, 4096}})
        for (std::int64_t t : {1, 2}) b->Args({1, K, N, t});
    b->ArgNames({"M", "K", "N", "threads"})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_gemm_lamina, float)->Name("BM_gemm_lamina")->Apply([](auto* b) { gemm_grid(b, true); });
BENCHMARK_TEMPLATE(BM_gemm_lamina, bf16)->Name("BM_gemm_lamina_bf16")->Apply([](auto* b) { gemm_grid(b, true); });
BENCHMARK(BM_gemm_eigen)->Apply([](auto* b) { gemm_grid(b, false); });
#if LAMINA_HAVE_OPENBLAS
BENCHMARK(BM_gemm_openblas)->Apply([](auto* b) { gemm_grid(b, true); });
#endif
BENCHMARK_TEMPLATE(BM_gemm_lamina, float)->Name("BM_gemv_lamina_f32")->Apply(gemv_grid);
BENCHMARK_TEMPLATE(BM_gemm_lamina, bf16)->Name("BM_gemv_lamina_bf16")->Apply(gemv_grid);
BENCHMARK_TEMPLATE(BM_gemm_small_m, float)->Name("BM_gemm_small_m_f32")->Apply(small_m_grid);
BENCHMARK_TEMPLATE(BM_gemm_small_m, bf16)->Name("BM_gemm_small_m_bf16")->Apply(small_m_grid);
