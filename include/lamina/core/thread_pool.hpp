#pragma once
// ThreadPool: persistent workers woken once per parallel region. The calling thread is worker 0, so a pool of
// n threads starts n-1. Work is split statically into contiguous, deterministic ranges (results never depend on
// timing), dispatch allocates nothing and takes no lock: an epoch counter announces a job, idle workers spin
// briefly on it (a decode step issues kernels back to back, microseconds apart) and then sleep on the atomic.
// Every wait spins with `pause` only for a few microseconds and then yields the core at each check: when there
// are more runnable threads than cores (ctest -j, a shared machine), a waiter must not hold the core the thread it
// waits for needs.
//
// One caller at a time: a region started while another is running — from a second thread, or nested inside a
// job — runs inline on the calling thread, which gives the same result because the split is deterministic.
#include "lamina/core/error.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lamina {

class ThreadPool {
public:
    // n_threads = 0 uses every core the OS reports.
    explicit ThreadPool(int n_threads = 0) {
        LAMINA_CHECK(n_threads >= 0, "ThreadPool: n_threads must be >= 0 (0 = all cores), got ", n_threads);
        n_ = n_threads ? n_threads : std::max(1, int(std::thread::hardware_concurrency()));
        workers_.reserve(std::size_t(n_ - 1));
        for (int t = 1; t < n_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
    }
    ~ThreadPool() {
        stop_.store(true, std::memory_order_relaxed);
        epoch_.fetch_add(1, std::memory_order_release);
        epoch_.notify_all();
        for (auto& w : workers_) w.join();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_; }

    // Calls fn(thread_index, n_threads) once on each of the pool's threads and returns when all are done.
    template <class F>
    void run(F&& fn) {
        bool expected = false;
        if (n_ == 1 || !busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
            // Serial fallback (single thread, nested or concurrent call): same ranges, one after another.
            for (int t = 0; t < n_; ++t) fn(t, n_);
            return;
        }
        using Fn = std::remove_reference_t<F>;
        job_ctx_ = const_cast<void*>(static_cast<const void*>(&fn));
        job_ = [](void* ctx, int t, int n) { (*static_cast<Fn*>(ctx))(t, n); };
        pending_.store(n_ - 1, std::memory_order_relaxed);
        // seq_cst on epoch_/sleepers_ (here and in worker_loop) so a worker going to sleep either sees the new
        // epoch or is seen as a sleeper and notified.
        epoch_.fetch_add(1);
        if (sleepers_.load() > 0) epoch_.notify_all();
        // Join in a destructor so that if this thread's share throws, the workers (which still call fn) finish
        // before fn goes out of scope, and the pool is released for the next region.
        struct Join {
            ThreadPool& pool;
            ~Join() {
                for (Backoff b; pool.pending_.load(std::memory_order_acquire) != 0;) b.wait();
                pool.busy_.store(false, std::memory_order_release);
            }
        } join{*this};
        fn(0, n_);
    }

    // Splits [0, count) into one contiguous range per thread (sizes differ by at most `grain`) and calls
    // fn(begin, end) for each non-empty range. Ranges are multiples of `grain` except the last.
    template <class F>
    void parallel_for(std::int64_t count, F&& fn, std::int64_t grain = 1) {
        LAMINA_CHECK(grain >= 1, "ThreadPool::parallel_for: grain must be >= 1, got ", grain);
        if (count <= 0) return;
        const std::int64_t chunks = (count + grain - 1) / grain;
        if (chunks == 1 || n_ == 1) return fn(std::int64_t(0), count);
        run([&](int t, int n) {
            const auto [b, e] = split(chunks, t, n);
            if (b < e) fn(b * grain, std::min(count, e * grain));
        });
    }

    // The t-th of n contiguous parts of [0, count).
    static std::pair<std::int64_t, std::int64_t> split(std::int64_t count, int t, int n) {
        const std::int64_t base = count / n, extra = count % n;
        const std::int64_t b = t * base + std::min<std::int64_t>(t, extra);
        return {b, b + base + (t < extra ? 1 : 0)};
    }

private:
    // One step of a wait: a pause (a few ns, keeps the core hot) for the first kPauseSpins steps — long enough for
    // the back-to-back kernels of one decode step — then a yield, which costs nothing when the core is idle and hands
    // it over when another thread is runnable.
    struct Backoff {
        static constexpr int kPauseSpins = 2048;  // × 32 pauses ≈ 10–60 µs, depending on the CPU's pause latency
        int spins = 0;
        void wait() {
            if (spins < kPauseSpins) {
                ++spins;
                for (int i = 0; i < 32; ++i) pause();
            } else {
                std::this_thread::yield();
            }
        }
    };
    static void pause() {
#if defined(__x86_64__)
        _mm_pause();
#else
        std::this_thread::yield();
#endif
    }

    void worker_loop(int t) {
        std::uint64_t seen = 0;
        for (;;) {
            // Spin for a while (cheap wake-up between back-to-back kernels), then sleep on the epoch.
            const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
            std::uint64_t e;
            for (Backoff b; (e = epoch_.load(std::memory_order_acquire)) == seen;) {
                if (std::chrono::steady_clock::now() > spin_until) {
                    sleepers_.fetch_add(1);
                    epoch_.wait(seen);
                    sleepers_.fetch_sub(1);
                } else {
                    b.wait();
                }
            }
            seen = e;
            if (stop_.load(std::memory_order_relaxed)) return;
            job_(job_ctx_, t, n_);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }

    static constexpr int kSpinMicros = 2000;
    int n_ = 1;
    std::vector<std::thread> workers_;
    std::atomic<std::uint64_t> epoch_{0};
    std::atomic<int> pending_{0}, sleepers_{0};
    std::atomic<bool> busy_{false}, stop_{false};
    void (*job_)(void*, int, int) = nullptr;
    void* job_ctx_ = nullptr;
};

// pool->parallel_for(count, fn), or fn(0, count) on the calling thread when there is no pool: how every kernel that
// takes an optional pool splits its work.
template <class F>
void parallel_for(ThreadPool* pool, std::int64_t count, F&& fn) {
    if (pool)
        pool->parallel_for(count, fn);
    else
        fn(std::int64_t(0), count);
}

}  // namespace lamina
