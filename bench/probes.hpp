#pragma once
// The machine's ceilings, shared by the kernel probes (probes_bench.cpp) and the model benchmarks
// (models_bench.cpp), so every result is stated against the same measurement: peak FMA throughput (what a
// compute-bound GEMM can approach) and read bandwidth (what a decode step, streaming every weight once, can approach).
#include "lamina/core/aligned.hpp"
#include "lamina/core/simd.hpp"
#include "lamina/core/thread_pool.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <vector>

namespace lamina::bench {

// FMA: 16 independent accumulator chains. Covering latency × issue width needs 4 cycles × 2 pipes = 8 on Zen 4/5
// and Skylake-X; 16 leaves slack and, with the two constants, fits in 32 zmm registers without spilling.
inline constexpr int kFmaChains = 16;
inline constexpr std::int64_t kFmaSteps = 1 << 16;  // per thread and call: 16·65536 FMAs ≈ 0.5 ms on one core
inline constexpr double kFmaFlopsPerCall = 2.0 * double(simd::kWidth) * kFmaChains * double(kFmaSteps);

[[gnu::noinline]] inline float fma_probe(std::int64_t steps = kFmaSteps) {
    simd::FloatV acc[kFmaChains];
    for (int i = 0; i < kFmaChains; ++i) acc[i] = simd::FloatV(1.0f + 0.01f * float(i));
    // acc ← acc·m + a converges to a / (1 - m) ≈ 1: no overflow, no subnormals, nothing the compiler can fold.
    const simd::FloatV m(0.999f), a(0.001f);
    for (std::int64_t s = 0; s < steps; ++s)
        for (int i = 0; i < kFmaChains; ++i) acc[i] = xsimd::fma(acc[i], m, a);
    for (int i = 1; i < kFmaChains; ++i) acc[0] += acc[i];
    return xsimd::hadd(acc[0]);
}

// Read bandwidth: sum the buffer with 8 independent vector accumulators (enough to keep two loads per cycle in
// flight against the add latency). p must be aligned to simd::kAlign.
[[gnu::noinline]] inline float sum_probe(const float* p, std::int64_t n) {
    constexpr int kAcc = 8;
    constexpr auto w = std::int64_t(simd::kWidth);
    simd::FloatV acc[kAcc];
    for (auto& x : acc) x = simd::FloatV(0.0f);
    std::int64_t i = 0;
    for (; i + kAcc * w <= n; i += kAcc * w)
        for (int k = 0; k < kAcc; ++k) acc[k] += simd::FloatV::load_aligned(p + i + k * w);
    for (int k = 1; k < kAcc; ++k) acc[0] += acc[k];
    float s = xsimd::hadd(acc[0]);
    for (; i < n; ++i) s += p[i];
    return s;
}

// One pass of sum_probe over buf, each thread over its own contiguous part. A grain of one 4 KiB page keeps every
// part cache-line aligned, so the aligned loads are valid.
inline void read_pass(ThreadPool& pool, const AlignedBuffer<float>& buf) {
    constexpr std::int64_t kGrain = 4096 / sizeof(float);
    pool.parallel_for(
        std::int64_t(buf.size()),
        [&](std::int64_t b, std::int64_t e) { benchmark::DoNotOptimize(sum_probe(buf.data() + b, e - b)); }, kGrain);
}

// Time of a region on a shared machine: wall-clock seconds, and the process's CPU seconds per pool thread — what the
// wall time would be with the cores to ourselves (as long as every pool thread is busy or spinning throughout).
// On a loaded machine the wall time mostly measures the other processes; the CPU time is the figure to compare.
struct Elapsed {
    double wall = 0, cpu = 0;
    Elapsed& operator+=(const Elapsed& o) {
        wall += o.wall, cpu += o.cpu;
        return *this;
    }
};

class Stopwatch {
public:
    explicit Stopwatch(int threads) : threads_(threads) {}
    Elapsed elapsed() const {
        return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count(),
                (process_cpu_seconds() - cpu0_) / threads_};
    }

private:
    static double process_cpu_seconds() {
        timespec t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
    }
    int threads_;
    std::chrono::steady_clock::time_point wall0_ = std::chrono::steady_clock::now();
    double cpu0_ = process_cpu_seconds();
};

// Median CPU time (per thread) of `reps` runs of fn(). The median, because a rep can be stalled by other processes.
template <class F>
double median_cpu_seconds(int threads, int reps, F&& fn) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
        const Stopwatch w(threads);
        fn();
        t.push_back(w.elapsed().cpu);
    }
    std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
    return t[std::size_t(reps / 2)];
}

// The probes as single figures (per CPU second), for stating a model's throughput as a fraction of the limit at the
// same thread count.
inline double fma_peak_gflops(ThreadPool& pool) {
    constexpr int kCalls = 40;  // ≈ 20 ms per rep
    const double s = median_cpu_seconds(pool.size(), 7, [&] {
        pool.run([](int, int) {
            for (int c = 0; c < kCalls; ++c) {
                std::int64_t steps = kFmaSteps;
                benchmark::DoNotOptimize(steps);  // an opaque argument: identical calls are not merged
                benchmark::DoNotOptimize(fma_probe(steps));
            }
        });
    });
    return kFmaFlopsPerCall * kCalls * pool.size() / s * 1e-9;
}

// Read bandwidth over a buffer of `bytes` (a model's weights: as large as what a decode step streams).
inline double read_gbs(ThreadPool& pool, std::size_t bytes) {
    AlignedBuffer<float> buf(bytes / sizeof(float));
    buf.fill(1.0f);  // touch every page before timing
    read_pass(pool, buf);
    return double(bytes) / median_cpu_seconds(pool.size(), 5, [&] { read_pass(pool, buf); }) * 1e-9;
}

}  // namespace lamina::bench
