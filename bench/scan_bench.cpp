// Per-layer Mamba scan benchmarks: kernels::selective_scan (Mamba-1) and kernels::ssd_scan (Mamba-2) at the sizes of
// the 130M checkpoints, prefill (T = 128, 1024 tokens in one call) and decode (T = 1). Counters: GFLOPS per CPU
// second and fma_fraction, that rate over the FMA-peak probe (probes.hpp) at the same thread count.
//
// FLOPs counted, per token (the arithmetic of the recurrence; exp, softplus and the per-channel epilogue are not
// counted, so a scan whose time goes to exp shows a low fraction honestly):
//   Mamba-1, per channel c and state index n: Δ·A, ·h, Δu·B, +, h·C, + = 6          → 6·d_inner·d_state
//            (plus one exp per (c, n), the kernel's real bottleneck)
//   Mamba-2, per state row (head, channel) and n: Δx·B, decay·h, +, h·C, + = 5        → 5·heads·head_dim·d_state
//            (one exp per head)
#include "probes.hpp"

#include "lamina/kernels/selective_scan.hpp"

#include <benchmark/benchmark.h>

#include <random>

using namespace lamina;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Times `scan` (which runs T tokens) by CPU seconds per pool thread, and reports FLOPs against the FMA peak.
template <class Scan>
void time_scan(benchmark::State& state, ThreadPool& pool, double flops_per_call, Scan&& scan) {
    scan();  // warm-up: first touch of the scratch and state
    bench::Elapsed total;
    for (auto _ : state) {
        const bench::Stopwatch w(pool.size());
        scan();
        const bench::Elapsed e = w.elapsed();
        total += e;
        state.SetIterationTime(e.wall);
    }
    const double gflops = flops_per_call * double(state.iterations()) / total.cpu * 1e-9;
    const double peak = bench::fma_peak_gflops(pool);
    state.counters["GFLOPS"] = gflops;
    state.counters["fma_peak_GFLOPS"] = peak;
    state.counters["fma_fraction"] = gflops / peak;
}

// Mamba-130M: d_inner 1536, d_state 16. Args: T, threads.
void BM_mamba1_scan(benchmark::State& state) {
    constexpr std::int64_t E = 1536, N = 16;
    const std::int64_t T = state.range(0);
    ThreadPool pool(int(state.range(1)));
    const auto u = random_values(std::size_t(T * E), 1, 1.f), delta = random_values(u.size(), 2, 1.f),
               z = random_values(u.size(), 3, 1.f), A_log = random_values(std::size_t(E * N), 4, 0.5f),
               B = random_values(std::size_t(T * N), 5, 1.f), C = random_values(B.size(), 6, 1.f),
               D = random_values(std::size_t(E), 7, 1.f);
    std::vector<float> y(u.size()), h(std::size_t(E * N), 0.f);
    Arena arena(kernels::selective_scan_scratch_bytes(E, N));
    time_scan(state, pool, 6.0 * double(T * E * N), [&] {
        kernels::selective_scan({u.data(), {T, E}}, {delta.data(), {T, E}}, {A_log.data(), {E, N}},
                                {B.data(), {T, N}}, {C.data(), {T, N}}, D, {z.data(), {T, E}}, {y.data(), {T, E}},
                                {h.data(), {E, N}}, arena, &pool);
    });
}

// Mamba-2-130M: 24 heads of 64 channels, one group, d_state 128. Args: T, threads.
void BM_mamba2_scan(benchmark::State& state) {
    const kernels::SsdShape s{24, 64, 1, 128};
    const std::int64_t T = state.range(0), HP = s.heads * s.head_dim, GN = s.groups * s.d_state;
    ThreadPool pool(int(state.range(1)));
    const auto x = random_values(std::size_t(T * HP), 1, 1.f), dt = random_values(std::size_t(T * s.heads), 2, 1.f),
               B = random_values(std::size_t(T * GN), 3, 1.f), C = random_values(B.size(), 4, 1.f),
               dt_bias = random_values(std::size_t(s.heads), 5, 0.5f), A_log = random_values(dt_bias.size(), 6, 0.5f),
               D = random_values(dt_bias.size(), 7, 1.f);
    std::vector<float> y(x.size()), h(std::size_t(HP * s.d_state), 0.f);
    Arena arena(kernels::ssd_scan_scratch_bytes(s, T));
    time_scan(state, pool, 5.0 * double(T * HP * s.d_state), [&] {
        kernels::ssd_scan(s, {x.data(), {T, HP}}, {dt.data(), {T, s.heads}}, dt_bias, A_log, {B.data(), {T, GN}},
                          {C.data(), {T, GN}}, D, {y.data(), {T, HP}}, {h.data(), {HP, s.d_state}}, arena, &pool);
    });
}

void scan_lengths(benchmark::internal::Benchmark* b) {
    b->ArgsProduct({{1, 32, 128, 1024}, {1, 2}})->ArgNames({"T", "threads"})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_mamba1_scan)->Apply(scan_lengths);
BENCHMARK(BM_mamba2_scan)->Apply(scan_lengths);
