#pragma once
// y = act(x · Wᵀ + bias) (+ y): the one matrix product of the library, for a batch of M token rows x [M, K] against
// pre-packed weights W [N, K]. One register-blocked micro-kernel (MR rows × NR outputs, outer products over k) runs
// in one of two loop orders, chosen by M:
//   few rows (M ≤ kStreamRows: a decode step, a speculative verify pass over k + 1 tokens, a small batch): each
//     weight panel is streamed once, over all of K, for every row, so the product runs at memory speed until the
//     FMAs of M rows per weight outrun the stream — the weights are read once whatever M is;
//   many rows (prefill): the Goto/BLIS loop nest, where the caller's rows are packed into MR-row panels and blocks
//     of both operands are sized to stay in cache while the other is swept past.
// Threads split N (whole weight panels), never K, so results do not depend on the thread count.
//
// Register budget (AVX-512, 32 zmm): MR·2 = 24 accumulators + 2 weight registers + 1 broadcast = 27. With 16
// registers (AVX2/SSE): MR = 6 → 12 + 3 = 15. Blocking, named for the cache level each block is sized to stay in:
//   kKC (L1):  the micro-kernel's weight sliver, kKC·NR·4 B = 256·32·4 = 32 KiB of a 48 KiB L1d;
//   kMC (L2):  the packed activation block,     kMC·kKC·4 B = 192·256·4 = 192 KiB of a 1 MiB L2;
//   kNC (L3):  the weight block reused across every MC block, kKC·kNC·4 B = 256·2048·4 = 2 MiB.
// Streaming, a panel (K·NR weights, ≤ 512 KiB f32 for K ≤ 4096) is re-read from L2 by each MR-row group after the
// first, and the rows, transposed k-major (K·M·4 B ≤ 256 KiB), from L1/L2.
#include "lamina/core/arena.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/kernels/activation.hpp"
#include "lamina/kernels/packed_matrix.hpp"

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace lamina {

// What happens to a finished output tile: either y = act(x·Wᵀ + bias), or — for a fused residual connection —
// y += x·Wᵀ + bias. (A residual never follows an activation in a transformer, so the two are exclusive.)
struct Epilogue {
    const float* bias = nullptr;  // N values, or null
    Activation activation = Activation::identity;
    bool accumulate = false;  // y += result
};

namespace kernels {

inline constexpr int kMR = simd::kRegisters == 32 ? 12 : 6;
inline constexpr std::int64_t kKC = 256;
inline constexpr std::int64_t kMC = 16 * kMR;
inline constexpr std::int64_t kNC = 2048;
inline constexpr std::int64_t kStreamRows = 16;
static_assert(kMR * 2 + 3 <= simd::kRegisters, "micro-kernel tile exceeds the register file");
static_assert(kNC % kNR == 0 && kMC % kMR == 0);

namespace detail {

using simd::FloatV;

// Bias and activation on a finished tile of m rows × n columns at c (row stride ldc) while it is still in L1.
inline void finish_tile(float* c, std::int64_t ldc, int m, int n, const float* bias, Activation act) {
    if (!bias && act == Activation::identity) return;
    dispatch_activation(act, [&]<Activation A>() {
        for (int i = 0; i < m; ++i) {
            float* row = c + i * ldc;
            int j = 0;
            for (; j + int(simd::kWidth) <= n; j += int(simd::kWidth)) {
                FloatV v = simd::load(row + j);
                if (bias) v += simd::load(bias + j);
                simd::store(row + j, activate<A>(v));
            }
            for (; j < n; ++j) {
                alignas(simd::kAlign) float one[simd::kWidth] = {row[j] + (bias ? bias[j] : 0.f)};
                activate<A>(FloatV::load_aligned(one)).store_aligned(one);
                row[j] = one[0];
            }
        }
    });
}

// k-steps in flight, each into its own accumulators (summed at the end): with few rows, enough independent FMA
// chains (MR·2·U ≥ 8) to cover FMA latency (4 cycles) × 2 pipes.
template <int MR>
inline constexpr int kSteps = MR == 1 ? 4 : MR < 4 ? 2 : 1;

// C[0:m, 0:n] (+)= A · B_panelᵀ over kc steps. `a` holds the rows k-major: step k, row i is a[k·lda + i] (rows ≥ m
// are padding and not computed); `b` holds kNR outputs k-major. MR is the number of rows computed, so a partial
// last panel of M costs only its real rows. `stream`: b is read once, front to back over a whole panel, so f32
// panels are prefetched ahead.
template <int MR, class WT>
inline void micro_kernel(std::int64_t kc, const float* a, std::int64_t lda, const WT* b, float* c, std::int64_t ldc,
                         int m, int n, bool load_c, bool stream) {
    // The C tile (MR rows × 2 cache lines) is read and written once per kc block, after the k loop, by which time
    // it has long left the caches (C is revisited K/kKC times): fetch it now, while the loop hides the latency.
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + kNR - 1, 1);
    }
    constexpr int U = kSteps<MR>;
    FloatV acc0[U][MR], acc1[U][MR];
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) acc0[u][i] = acc1[u][i] = FloatV(0.f);
    auto step = [&](int u, std::int64_t k) {
        FloatV b0, b1;
        load_panel_row(b + k * kNR, b0, b1);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const FloatV ai(a[k * lda + i]);
            acc0[u][i] = xsimd::fma(ai, b0, acc0[u][i]);
            acc1[u][i] = xsimd::fma(ai, b1, acc1[u][i]);
        }
    };
    std::int64_t k = 0;
    for (; k + U <= kc; k += U) {
        // f32 panels, streamed: software prefetch 1 KiB ahead, measured 1.13× for one row (24.5 → 27.6 GB/s, at
        // the read probe's 27 GB/s; best of 11, shared machine). For bf16 panels (half the bytes per FMA) it
        // measured 0.85×: off.
        if constexpr (std::is_same_v<WT, float>) {
            if (stream) {
                const char* ahead = reinterpret_cast<const char*>(b + k * kNR) + 1024;
                constexpr int lines = U * kNR * int(sizeof(float)) / 64;
#pragma GCC unroll 8
                for (int l = 0; l < lines; ++l) __builtin_prefetch(ahead + 64 * l);
            }
        }
#pragma GCC unroll 4
        for (int u = 0; u < U; ++u) step(u, k + u);
    }
    for (; k < kc; ++k) step(0, k);
#pragma GCC unroll 4
    for (int w = U / 2; w > 0; w /= 2)
#pragma GCC unroll 4
        for (int u = 0; u < w; ++u)
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) acc0[u][i] += acc0[u + w][i], acc1[u][i] += acc1[u + w][i];
    constexpr int W = int(simd::kWidth);
    if (n == kNR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            if (i >= m) break;
            float* row = c + i * ldc;
            if (load_c) {
                acc0[0][i] += simd::load(row);
                acc1[0][i] += simd::load(row + W);
            }
            simd::store(row, acc0[0][i]);
            simd::store(row + W, acc1[0][i]);
        }
        return;
    }
    alignas(simd::kAlign) float tile[kNR];
    for (int i = 0; i < m; ++i) {
        float* row = c + i * ldc;
        acc0[0][i].store_aligned(tile);
        acc1[0][i].store_aligned(tile + W);
        for (int j = 0; j < n; ++j) row[j] = load_c ? row[j] + tile[j] : tile[j];
    }
}

template <class WT, int MR = kMR>
inline void micro_kernel_rows(int m, std::int64_t kc, const float* a, std::int64_t lda, const WT* b, float* c,
                              std::int64_t ldc, int n, bool load_c, bool stream) {
    if constexpr (MR > 1) {
        if (m < MR) return micro_kernel_rows<WT, MR - 1>(m, kc, a, lda, b, c, ldc, n, load_c, stream);
    }
    micro_kernel<MR, WT>(kc, a, lda, b, c, ldc, m, n, load_c, stream);
}

// Packs rows [0, M) of x into kMR-row panels, k-major: panel p, step k holds x[p·kMR + i, k] for i < kMR.
inline void pack_rows(TensorView<const float> x, float* out, std::int64_t p0, std::int64_t p1) {
    const std::int64_t M = x.rows(), K = x.cols();
    for (std::int64_t p = p0; p < p1; ++p) {
        float* panel = out + p * K * kMR;
        for (int i = 0; i < kMR; ++i) {
            const std::int64_t r = p * kMR + i;
            if (r < M) {
                const float* src = x.row(r);
                for (std::int64_t k = 0; k < K; ++k) panel[k * kMR + i] = src[k];
            } else {
                for (std::int64_t k = 0; k < K; ++k) panel[k * kMR + i] = 0.f;
            }
        }
    }
}

// Rows [0, M) of x transposed k-major for streaming: out[k·M + i] = x[i, k].
inline const float* transpose_rows(TensorView<const float> x, float* out) {
    const std::int64_t M = x.rows(), K = x.cols();
    for (std::int64_t i = 0; i < M; ++i) {
        const float* src = x.row(i);
        for (std::int64_t k = 0; k < K; ++k) out[k * M + i] = src[k];
    }
    return out;
}

// Scratch for packed activations: grows to the largest M·K seen by this thread, then stays (no allocation in
// steady state).
inline float* packed_rows_scratch(std::size_t floats) {
    thread_local AlignedBuffer<float> buf;
    if (buf.size() < floats) buf = AlignedBuffer<float>(floats);
    return buf.data();
}

}  // namespace detail

inline void check_gemm_shapes(const char* op, TensorView<const float> x, std::int64_t N, std::int64_t K,
                              TensorView<float> y) {
    LAMINA_CHECK(x.rank() == 2 && y.rank() == 2, op, ": x and y must be matrices, got ranks ", x.rank(), " and ",
                 y.rank());
    LAMINA_CHECK(x.stride(1) == 1 && y.stride(1) == 1, op, ": rows of x and y must be contiguous");
    LAMINA_CHECK(x.cols() == K, op, ": x has ", x.cols(), " columns but the weights expect K=", K);
    LAMINA_CHECK(y.rows() == x.rows() && y.cols() == N, op, ": y is [", y.rows(), ", ", y.cols(), "] but x·Wᵀ is [",
                 x.rows(), ", ", N, "]");
}

// y = act(x·Wᵀ + bias) (+ y). x [M, K], W packed [N, K], y [M, N]. pool = nullptr runs on the calling thread.
template <class WT>
void gemm(TensorView<const float> x, const PackedMatrix<WT>& w, TensorView<float> y, const Epilogue& ep = {},
          ThreadPool* pool = nullptr) {
    const std::int64_t M = x.rows(), K = w.cols(), N = w.rows();
    check_gemm_shapes("gemm", x, N, K, y);
    LAMINA_CHECK(!(ep.accumulate && ep.activation != Activation::identity),
                 "gemm: an accumulating epilogue cannot apply an activation (", activation_name(ep.activation), ")");
    if (M == 0) return;
    const std::int64_t panels = w.panels();
    auto for_panels = [&](auto&& fn) { parallel_for(pool, panels, fn); };
    if (M <= kStreamRows) {
        // One row is its own transpose: a decode step reads x in place and needs no scratch. The scratch is sized
        // for kStreamRows whatever M is, so verify passes of varying length allocate once, not whenever M grows.
        const float* a =
            M == 1 ? x.row(0) : detail::transpose_rows(x, detail::packed_rows_scratch(std::size_t(kStreamRows * K)));
        for_panels([&](std::int64_t p0, std::int64_t p1) {
            for (std::int64_t p = p0; p < p1; ++p) {
                const std::int64_t n0 = p * kNR;
                const int n = int(std::min<std::int64_t>(kNR, N - n0));
                for (std::int64_t i0 = 0; i0 < M; i0 += kMR) {
                    const int m = int(std::min<std::int64_t>(kMR, M - i0));
                    float* c = y.row(i0) + n0;
                    detail::micro_kernel_rows<WT>(m, K, a + i0, M, w.panel(p), c, y.ld(), n, ep.accumulate, true);
                    detail::finish_tile(c, y.ld(), m, n, ep.bias ? ep.bias + n0 : nullptr, ep.activation);
                }
            }
        });
        return;
    }

    const std::int64_t row_panels = (M + kMR - 1) / kMR;
    float* a = detail::packed_rows_scratch(std::size_t(row_panels * K * kMR));
    parallel_for(pool, row_panels, [&](std::int64_t p0, std::int64_t p1) { detail::pack_rows(x, a, p0, p1); });

    for_panels([&](std::int64_t q0, std::int64_t q1) {
        for (std::int64_t jc = q0; jc < q1; jc += kNC / kNR) {
            const std::int64_t jc_end = std::min(q1, jc + kNC / kNR);
            for (std::int64_t pc = 0; pc < K; pc += kKC) {
                const std::int64_t kc = std::min(kKC, K - pc);
                const bool first = pc == 0, last = pc + kc == K;
                for (std::int64_t ic = 0; ic < row_panels; ic += kMC / kMR) {
                    const std::int64_t ic_end = std::min(row_panels, ic + kMC / kMR);
                    for (std::int64_t jr = jc; jr < jc_end; ++jr) {
                        const WT* b = w.panel(jr) + pc * kNR;
                        const std::int64_t n0 = jr * kNR;
                        const int n = int(std::min<std::int64_t>(kNR, N - n0));
                        for (std::int64_t ir = ic; ir < ic_end; ++ir) {
                            const int m = int(std::min<std::int64_t>(kMR, M - ir * kMR));
                            float* c = y.row(ir * kMR) + n0;
                            detail::micro_kernel_rows<WT>(m, kc, a + ir * K * kMR + pc * kMR, kMR, b, c, y.ld(), n,
                                                          !first || ep.accumulate, false);
                            if (last) detail::finish_tile(c, y.ld(), m, n, ep.bias ? ep.bias + n0 : nullptr,
                                                          ep.activation);
                        }
                    }
                }
            }
        }
    });
}

// The decode-step product y[N] = act(W·x + bias) (+ y) for one token.
template <class WT>
void gemv(std::span<const float> x, const PackedMatrix<WT>& w, std::span<float> y, const Epilogue& ep = {},
          ThreadPool* pool = nullptr) {
    gemm(TensorView<const float>(x.data(), {1, std::int64_t(x.size())}), w,
         TensorView<float>(y.data(), {1, std::int64_t(y.size())}), ep, pool);
}

}  // namespace kernels
}  // namespace lamina
