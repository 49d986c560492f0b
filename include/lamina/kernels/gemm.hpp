#pragma once
// y = act(x · Wᵀ + bias) (+ y): the one matrix product of the library, for a batch of M token rows x [M, K] against
// pre-packed weights W [N, K]. M = 1 (a decode step) streams the weights once (gemv); M > 1 runs the Goto/BLIS
// loop nest: the caller's rows are packed into MR-row panels, and an MR×NR register-blocked micro-kernel
// accumulates outer products. Threads split N (whole weight panels), never K, so results do not depend on the
// thread count.
//
// Register budget (AVX-512, 32 zmm): MR·2 = 24 accumulators + 2 weight registers + 1 broadcast = 27. With 16
// registers (AVX2/SSE): MR = 6 → 12 + 3 = 15. Blocking, named for the cache level each block is sized to stay in:
//   kKC (L1):  the micro-kernel's weight sliver, kKC·NR·4 B = 256·32·4 = 32 KiB of a 48 KiB L1d;
//   kMC (L2):  the packed activation block,     kMC·kKC·4 B = 192·256·4 = 192 KiB of a 1 MiB L2;
//   kNC (L3):  the weight block reused across every MC block, kKC·kNC·4 B = 256·2048·4 = 2 MiB.
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

// C[0:m, 0:n] (+)= A_panel · B_panelᵀ over kc steps. `a` holds kMR rows k-major (rows ≥ MR are padding and not
// computed); `b` holds kNR outputs k-major. MR is the number of rows computed, so a partial last panel of M costs
// only its real rows.
template <int MR, class WT>
inline void micro_kernel(std::int64_t kc, const float* a, const WT* b, float* c, std::int64_t ldc, int m, int n,
                         bool load_c) {
    // The C tile (MR rows × 2 cache lines) is read and written once per kc block, after the k loop, by which time
    // it has long left the caches (C is revisited K/kKC times): fetch it now, while the loop hides the latency.
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + kNR - 1, 1);
    }
    FloatV acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) acc0[i] = acc1[i] = FloatV(0.f);
    for (std::int64_t k = 0; k < kc; ++k) {
        FloatV b0, b1;
        load_panel_row(b + k * kNR, b0, b1);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const FloatV ai(a[k * kMR + i]);
            acc0[i] = xsimd::fma(ai, b0, acc0[i]);
            acc1[i] = xsimd::fma(ai, b1, acc1[i]);
        }
    }
    constexpr int W = int(simd::kWidth);
    if (n == kNR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            if (i >= m) break;
            float* row = c + i * ldc;
            if (load_c) {
                acc0[i] += simd::load(row);
                acc1[i] += simd::load(row + W);
            }
            simd::store(row, acc0[i]);
            simd::store(row + W, acc1[i]);
        }
        return;
    }
    alignas(simd::kAlign) float tile[kNR];
    for (int i = 0; i < m; ++i) {
        float* row = c + i * ldc;
        acc0[i].store_aligned(tile);
        acc1[i].store_aligned(tile + W);
        for (int j = 0; j < n; ++j) row[j] = load_c ? row[j] + tile[j] : tile[j];
    }
}

template <class WT, int MR = kMR>
inline void micro_kernel_rows(int m, std::int64_t kc, const float* a, const WT* b, float* c, std::int64_t ldc,
                              int n, bool load_c) {
    if constexpr (MR > 1) {
        if (m < MR) return micro_kernel_rows<WT, MR - 1>(m, kc, a, b, c, ldc, n, load_c);
    }
    micro_kernel<MR, WT>(kc, a, b, c, ldc, m, n, load_c);
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

// y[0, n-range] for one token: each panel is streamed once, four k-steps in flight to cover FMA latency.
template <class WT>
inline void gemv_panels(const float* x, const PackedMatrix<WT>& w, float* y, std::int64_t p0, std::int64_t p1,
                        const Epilogue& ep) {
    const std::int64_t K = w.cols(), N = w.rows();
    constexpr int W = int(simd::kWidth);
    for (std::int64_t p = p0; p < p1; ++p) {
        const WT* b = w.panel(p);
        FloatV s[8];
        for (auto& v : s) v = FloatV(0.f);
        std::int64_t k = 0;
        for (; k + 4 <= K; k += 4) {
            // f32 panels: software prefetch 1 KiB ahead, measured 1.13× (24.5 → 27.6 GB/s, at the read probe's
            // 27 GB/s; best of 11, shared machine). For bf16 panels (half the bytes per FMA) it measured 0.85×: off.
            if constexpr (std::is_same_v<WT, float>) {
                const char* ahead = reinterpret_cast<const char*>(b + k * kNR) + 1024;
                constexpr int lines = 4 * kNR * int(sizeof(float)) / 64;  // the 4 rows' cache lines, 1 KiB on
#pragma GCC unroll 8
                for (int l = 0; l < lines; ++l) __builtin_prefetch(ahead + 64 * l);
            }
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) {
                FloatV b0, b1;
                load_panel_row(b + (k + u) * kNR, b0, b1);
                const FloatV xk(x[k + u]);
                s[2 * u] = xsimd::fma(xk, b0, s[2 * u]);
                s[2 * u + 1] = xsimd::fma(xk, b1, s[2 * u + 1]);
            }
        }
        for (; k < K; ++k) {
            FloatV b0, b1;
            load_panel_row(b + k * kNR, b0, b1);
            const FloatV xk(x[k]);
            s[0] = xsimd::fma(xk, b0, s[0]);
            s[1] = xsimd::fma(xk, b1, s[1]);
        }
        alignas(simd::kAlign) float out[kNR];
        ((s[0] + s[2]) + (s[4] + s[6])).store_aligned(out);
        ((s[1] + s[3]) + (s[5] + s[7])).store_aligned(out + W);
        const std::int64_t n0 = p * kNR;
        const int n = int(std::min<std::int64_t>(kNR, N - n0));
        for (int j = 0; j < n; ++j) y[n0 + j] = ep.accumulate ? y[n0 + j] + out[j] : out[j];
        finish_tile(y + n0, 0, 1, n, ep.bias ? ep.bias + n0 : nullptr, ep.activation);
    }
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
    auto for_panels = [&](auto&& fn) {
        if (pool)
            pool->parallel_for(panels, fn);
        else
            fn(std::int64_t(0), panels);
    };
    if (M == 1) {
        for_panels([&](std::int64_t p0, std::int64_t p1) { detail::gemv_panels(x.row(0), w, y.row(0), p0, p1, ep); });
        return;
    }

    const std::int64_t row_panels = (M + kMR - 1) / kMR;
    float* a = detail::packed_rows_scratch(std::size_t(row_panels * K * kMR));
    if (pool)
        pool->parallel_for(row_panels, [&](std::int64_t p0, std::int64_t p1) { detail::pack_rows(x, a, p0, p1); });
    else
        detail::pack_rows(x, a, 0, row_panels);

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
                            detail::micro_kernel_rows<WT>(m, kc, a + ir * K * kMR + pc * kMR, b, c, y.ld(), n,
                                                          !first || ep.accumulate);
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
