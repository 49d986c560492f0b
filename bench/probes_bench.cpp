// Hardware probes: the ceilings the kernels are measured against. Peak FMA throughput (what a compute-bound GEMM can
// approach), read bandwidth in and out of cache (what GEMV and the elementwise kernels can approach), and the cost of
// one empty ThreadPool region (the fixed price of parallelising a kernel). The probe loops live in probes.hpp, shared
// with the model benchmarks.
#include "probes.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

namespace {

using namespace lamina::bench;

void BM_peak_fma(benchmark::State& state) {
    const int threads = int(state.range(0));
    lamina::ThreadPool pool(threads);
    for (auto _ : state) {
        pool.run([](int, int) { benchmark::DoNotOptimize(fma_probe()); });
    }
    state.counters["GFLOPS"] = benchmark::Counter(kFmaFlopsPerCall * threads * double(state.iterations()) * 1e-9,
                                                  benchmark::Counter::kIsRate);
}
// Names: BM_peak_fma/<threads>/real_time.
BENCHMARK(BM_peak_fma)->Arg(1)->Arg(2)->UseRealTime();

void BM_peak_read(benchmark::State& state) {
    const auto bytes = std::size_t(state.range(0));
    const int threads = int(state.range(1));
    lamina::ThreadPool pool(threads);
    lamina::AlignedBuffer<float> buf(bytes / sizeof(float));
    buf.fill(1.0f);  // touch every page before timing
    for (auto _ : state) read_pass(pool, buf);
    state.counters["GB/s"] =
        benchmark::Counter(double(bytes) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}
// 4 MiB stays in cache (1 MiB L2 per core on Zen 5, 32 MiB L3); 64 and 256 MiB stream from DRAM.
// Names: BM_peak_read/<bytes>/<threads>/real_time.
BENCHMARK(BM_peak_read)
    ->ArgsProduct({{4 << 20, 64 << 20, 256 << 20}, {1, 2}})
    ->UseRealTime();

// Dispatch: one empty region, back to back, so the workers are spinning and the cost is the wake-up and join.
void BM_thread_pool_dispatch(benchmark::State& state) {
    lamina::ThreadPool pool(int(state.range(0)));
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) pool.run([](int t, int) { benchmark::DoNotOptimize(t); });
    const std::chrono::duration<double, std::micro> elapsed = std::chrono::steady_clock::now() - start;
    state.counters["us_per_region"] = elapsed.count() / double(state.iterations());
}
BENCHMARK(BM_thread_pool_dispatch)->Arg(2)->UseRealTime();  // BM_thread_pool_dispatch/<threads>/real_time

}  // namespace
