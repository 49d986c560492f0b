#pragma once
// The recurrent kernels of the Mamba token mixers, with the conventions of Hugging Face transformers
// (models/mamba/modeling_mamba.py MambaMixer.slow_forward, models/mamba2/modeling_mamba2.py Mamba2Mixer.torch_forward)
// and of the mamba_ssm kernels they stand in for (causal_conv1d_fn, selective_scan_fn, selective_state_update).
//
//   causal_conv1d   y[t,c] = act(bias[c] + Σ_k w[c,k]·s[t+k, c]), s = [the K−1 previous inputs; x]: the depthwise
//                   Conv1d(padding=K−1)[..., :T] of HF, continued across calls through a state of the last K−1
//                   inputs. State rows are time-major ([K−1, C], oldest first) so a vector spans channels.
//   selective_scan  Mamba-1: per channel c and state index n, with Δ = softplus(δ) and A = −exp(A_log),
//                     h[c,n] ← exp(Δ_c·A[c,n])·h[c,n] + Δ_c·u_c·B[n],   y_c = (Σ_n h[c,n]·C[n] + D_c·u_c)·silu(z_c).
//                   The state is HF's ssm_states layout [d_inner, d_state].
//   ssd_scan        Mamba-2: the same recurrence with one scalar A and Δ per head (Δ = softplus(δ + dt_bias)),
//                   B and C shared by a group of heads, no gate (Mamba-2 gates in its norm). State [heads·head_dim,
//                   d_state] = HF's recurrent_states [heads, head_dim, d_state].
//
// All three handle T tokens per call; T = 1 is the O(1) decode step, and splitting a sequence into calls gives the
// result of one call. Threads split channels (Mamba-1, conv) or state rows (Mamba-2), never time, so results do not
// depend on the thread count.
//
// Why the Mamba-2 scan is sequential and not the chunked SSD of torch_forward (decided by measurement): the chunked
// form turns the scan into matrix products (per chunk of L tokens: C·Bᵀ masked by the decays, times Δ·X; the chunk's
// state from Xᵀ·B; the carried-in state read through C), at 2·L·head_dim + 2·L·d_state/heads_per_group + 4·head_dim·
// d_state FLOPs per token and head against the recurrence's 5·head_dim·d_state: 1.67× the work at HF's chunk_size
// 256 (1.23× at L = 128) for Mamba-2-130M. The sequential scan reaches only ~15% of the FMA-peak probe there
// (BM_mamba2_scan/T:1024: 31–38 GFLOP/s of 215–235, 1 thread), yet a chunked prototype on the library GEMM was not
// faster at the same sizes: 0.76–0.95× the sequential speed at L = 256, 0.96–1.37× at L = 128, 0.91–1.09× at L = 64
// (three runs on a loaded 2-core Zen 5; outputs equal to 5e-6). The gemm also takes only heap-packed operands, so the
// chunked products would allocate inside a forward call. Benchmarks: bench/scan_bench.cpp.
#include "lamina/core/arena.hpp"
#include "lamina/core/simd.hpp"
#include "lamina/core/tensor.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/kernels/activation.hpp"
#include "lamina/kernels/vector_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace lamina::kernels {

namespace detail {

using simd::FloatV;
inline constexpr int kLanes = int(simd::kWidth);

// Loads and stores of the first n lanes; the partial form zero-fills the rest, so padding lanes compute on zeros
// (finite, and never stored).
template <bool Full>
inline FloatV load_lanes(const float* p, int n) {
    if constexpr (Full) {
        return simd::load(p);
    } else {
        alignas(simd::kAlign) float tmp[simd::kWidth] = {};
        std::copy_n(p, n, tmp);
        return FloatV::load_aligned(tmp);
    }
}
template <bool Full>
inline void store_lanes(float* p, FloatV v, int n) {
    if constexpr (Full) {
        simd::store(p, v);
    } else {
        alignas(simd::kAlign) float tmp[simd::kWidth];
        v.store_aligned(tmp);
        std::copy_n(tmp, n, p);
    }
}

inline std::int64_t channel_blocks(std::int64_t channels) { return (channels + kLanes - 1) / kLanes; }

// Calls fn.template operator()<Full>(block, first channel, lanes) for every block of kLanes channels, the blocks
// split over threads.
template <class Fn>
inline void for_channel_blocks(std::int64_t channels, ThreadPool* pool, Fn&& fn) {
    const auto run = [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t b = b0; b < b1; ++b) {
            const std::int64_t c0 = b * kLanes;
            const int lanes = int(std::min<std::int64_t>(kLanes, channels - c0));
            if (lanes == kLanes)
                fn.template operator()<true>(b, c0, lanes);
            else
                fn.template operator()<false>(b, c0, lanes);
        }
    };
    if (pool)
        pool->parallel_for(channel_blocks(channels), run);
    else
        run(0, channel_blocks(channels));
}

// PyTorch's softplus (beta 1, threshold 20): x above 20, log(1 + e^x) below.
inline float softplus(float x) { return x > 20.f ? x : std::log1p(std::exp(x)); }
inline FloatV softplus(FloatV x) { return xsimd::select(x > FloatV(20.f), x, xsimd::log1p(vmath::exp(x))); }

inline void check_matrix(const char* op, const char* name, const TensorView<const float>& m, std::int64_t rows,
                         std::int64_t cols) {
    LAMINA_CHECK(m.rank() == 2 && m.rows() == rows && m.cols() == cols && (cols <= 1 || m.stride(1) == 1), op, ": ",
                 name, " must be a [", rows, ", ", cols, "] matrix with contiguous rows, got rank ", m.rank(), " [",
                 m.dim(0), ", ", m.rank() > 1 ? m.dim(1) : 1, "]");
}
inline void check_vector(const char* op, const char* name, std::span<const float> v, std::int64_t n) {
    LAMINA_CHECK(std::int64_t(v.size()) == n, op, ": ", name, " has ", v.size(), " values, expected ", n);
}

}  // namespace detail

inline std::size_t causal_conv1d_scratch_bytes(std::int64_t channels, std::int64_t kernel) {
    return std::size_t(detail::channel_blocks(channels) * kernel * detail::kLanes) * sizeof(float) + simd::kAlign;
}

// y = act(causal depthwise conv of x), continuing from `state` and leaving in it the last K−1 inputs.
//   x [T, C], weight [C, K] (HF's Conv1d weight [C, 1, K] squeezed), bias [C], state [K−1, C] (contiguous),
//   y [T, C], which must not overlap x or state. Rows of x and y may be strided (column slices of wider buffers).
inline void causal_conv1d(TensorView<const float> x, TensorView<const float> weight, std::span<const float> bias,
                          TensorView<float> state, TensorView<float> y, Activation act, Arena& arena,
                          ThreadPool* pool = nullptr) {
    const char* op = "causal_conv1d";
    const std::int64_t T = x.rows(), C = x.cols(), K = weight.rank() == 2 ? weight.cols() : 0;
    LAMINA_CHECK(K >= 1, op, ": weight must be [channels, kernel] with kernel >= 1");
    detail::check_matrix(op, "x", x, T, C);
    detail::check_matrix(op, "weight", weight, C, K);
    detail::check_vector(op, "bias", bias, C);
    detail::check_matrix(op, "state", state, K - 1, C);
    LAMINA_CHECK(state.contiguous(), op, ": state must be contiguous");
    detail::check_matrix(op, "y", y, T, C);
    if (T == 0 || C == 0) return;

    ArenaScope scope(arena);
    // Each block's weights transposed to k-major registers, w_t[k][lane] = weight[c0 + lane, k]; padding lanes 0.
    float* tiles = arena.alloc<float>(std::size_t(detail::channel_blocks(C) * K * detail::kLanes)).data();
    dispatch_activation(act, [&]<Activation A>() {
        detail::for_channel_blocks(C, pool, [&]<bool Full>(std::int64_t b, std::int64_t c0, int lanes) {
            using simd::FloatV;
            float* wt = tiles + b * K * detail::kLanes;
            for (std::int64_t k = 0; k < K; ++k)
                for (int l = 0; l < detail::kLanes; ++l) wt[k * detail::kLanes + l] = l < lanes ? weight(c0 + l, k) : 0.f;
            // Row s of [state; x]: the input s − (K−1) steps after the start of this call.
            const auto row = [&](std::int64_t s) -> const float* {
                return (s < K - 1 ? state.row(s) : x.row(s - (K - 1))) + c0;
            };
            const FloatV bv = detail::load_lanes<Full>(bias.data() + c0, lanes);
            for (std::int64_t t = 0; t < T; ++t) {
                FloatV acc = bv;
                for (std::int64_t k = 0; k < K; ++k)
                    acc = xsimd::fma(FloatV::load_aligned(wt + k * detail::kLanes),
                                     detail::load_lanes<Full>(row(t + k), lanes), acc);
                detail::store_lanes<Full>(y.row(t) + c0, activate<A>(acc), lanes);
            }
            // The new state is rows T … T+K−2 of [state; x]; row j is only ever read from a later row, so in place.
            for (std::int64_t j = 0; j < K - 1; ++j) std::copy_n(row(T + j), lanes, state.row(j) + c0);
        });
    });
}

inline std::size_t selective_scan_scratch_bytes(std::int64_t channels, std::int64_t d_state) {
    return 2 * (std::size_t(detail::channel_blocks(channels) * d_state * detail::kLanes) * sizeof(float) + simd::kAlign);
}

// Mamba-1 selective scan over T tokens (see the header comment), updating `state` in place.
//   u, delta, z, y [T, E]; B, C [T, N]; A_log [E, N]; D [E]; state [E, N]. delta is dt_proj's output before the
//   softplus. y may be u itself (each element is read before it is written); rows may be strided.
//
// A block of kLanes channels is scanned at a time with the channels across the vector, so the sum over n is a
// chain of FMAs rather than a horizontal reduction. Its state and A are gathered into [N][kLanes] tiles for the
// call (the exp of A_log taken once) and the state scattered back at the end.
inline void selective_scan(TensorView<const float> u, TensorView<const float> delta, TensorView<const float> A_log,
                           TensorView<const float> B, TensorView<const float> C, std::span<const float> D,
                           TensorView<const float> z, TensorView<float> y, TensorView<float> state, Arena& arena,
                           ThreadPool* pool = nullptr) {
    const char* op = "selective_scan";
    const std::int64_t T = u.rows(), E = u.cols(), N = A_log.rank() == 2 ? A_log.cols() : 0;
    LAMINA_CHECK(N >= 1, op, ": A_log must be [d_inner, d_state] with d_state >= 1");
    detail::check_matrix(op, "u", u, T, E);
    detail::check_matrix(op, "delta", delta, T, E);
    detail::check_matrix(op, "A_log", A_log, E, N);
    detail::check_matrix(op, "B", B, T, N);
    detail::check_matrix(op, "C", C, T, N);
    detail::check_vector(op, "D", D, E);
    detail::check_matrix(op, "z", z, T, E);
    detail::check_matrix(op, "y", y, T, E);
    detail::check_matrix(op, "state", state, E, N);
    if (E == 0) return;

    constexpr int W = detail::kLanes;
    ArenaScope scope(arena);
    const std::size_t tile_floats = std::size_t(detail::channel_blocks(E) * N * W);
    float* a_tiles = arena.alloc<float>(tile_floats).data();
    float* h_tiles = arena.alloc<float>(tile_floats).data();
    detail::for_channel_blocks(E, pool, [&]<bool Full>(std::int64_t b, std::int64_t c0, int lanes) {
        using simd::FloatV;
        float* a = a_tiles + b * N * W;
        float* h = h_tiles + b * N * W;
        // Padding lanes get A = −1 and h = 0; with u = 0 there, h stays 0.
        for (int l = 0; l < W; ++l)
            for (std::int64_t n = 0; n < N; ++n) {
                a[n * W + l] = l < lanes ? A_log(c0 + l, n) : 0.f;
                h[n * W + l] = l < lanes ? state(c0 + l, n) : 0.f;
            }
        for (std::int64_t n = 0; n < N; ++n)
            (-vmath::exp(FloatV::load_aligned(a + n * W))).store_aligned(a + n * W);
        const FloatV d = detail::load_lanes<Full>(D.data() + c0, lanes);
        for (std::int64_t t = 0; t < T; ++t) {
            const FloatV dt = detail::softplus(detail::load_lanes<Full>(delta.row(t) + c0, lanes));
            const FloatV uv = detail::load_lanes<Full>(u.row(t) + c0, lanes);
            const FloatV dtu = dt * uv;
            const float* bt = B.row(t);
            const float* ct = C.row(t);
            FloatV acc = d * uv;
            for (std::int64_t n = 0; n < N; ++n) {
                const FloatV decay = vmath::exp(dt * FloatV::load_aligned(a + n * W));
                const FloatV hn = xsimd::fma(decay, FloatV::load_aligned(h + n * W), dtu * FloatV(bt[n]));
                hn.store_aligned(h + n * W);
                acc = xsimd::fma(hn, FloatV(ct[n]), acc);
            }
            const FloatV zv = detail::load_lanes<Full>(z.row(t) + c0, lanes);
            detail::store_lanes<Full>(y.row(t) + c0, acc * activate<Activation::silu>(zv), lanes);
        }
        for (int l = 0; l < lanes; ++l)
            for (std::int64_t n = 0; n < N; ++n) state(c0 + l, n) = h[n * W + l];
    });
}

// Sizes of a Mamba-2 scan: heads of head_dim channels, B and C shared by heads / groups consecutive heads.
struct SsdShape {
    std::int64_t heads = 0, head_dim = 0, groups = 1, d_state = 0;
};

// Mamba-2 scan over T tokens (see the header comment), updating `state` in place.
//   x, y [T, heads·head_dim]; dt [T, heads] (before dt_bias and the softplus); B, C [T, groups·d_state];
//   dt_bias, A_log, D [heads]; state [heads·head_dim, d_state]. y may be x itself; rows may be strided.
//
// Each state row (head h, channel p) is a d_state vector updated with one scalar decay per token, so the vector runs
// along d_state and y is one horizontal sum per row. Within a head the loop is token-major: the head's
// head_dim × d_state state stays in L1 while its rows share the token's decay, B and C.
inline void ssd_scan(const SsdShape& s, TensorView<const float> x, TensorView<const float> dt,
                     std::span<const float> dt_bias, std::span<const float> A_log, TensorView<const float> B,
                     TensorView<const float> C, std::span<const float> D, TensorView<float> y, TensorView<float> state,
                     ThreadPool* pool = nullptr) {
    const char* op = "ssd_scan";
    LAMINA_CHECK(s.heads >= 1 && s.head_dim >= 1 && s.groups >= 1 && s.d_state >= 1 && s.heads % s.groups == 0, op,
                 ": heads (", s.heads, "), head_dim (", s.head_dim, "), groups (", s.groups, ") and d_state (",
                 s.d_state, ") must be positive, with heads a multiple of groups");
    const std::int64_t T = x.rows(), H = s.heads, P = s.head_dim, N = s.d_state, GN = s.groups * N;
    detail::check_matrix(op, "x", x, T, H * P);
    detail::check_matrix(op, "dt", dt, T, H);
    detail::check_vector(op, "dt_bias", dt_bias, H);
    detail::check_vector(op, "A_log", A_log, H);
    detail::check_matrix(op, "B", B, T, GN);
    detail::check_matrix(op, "C", C, T, GN);
    detail::check_vector(op, "D", D, H);
    detail::check_matrix(op, "y", y, T, H * P);
    detail::check_matrix(op, "state", state, H * P, N);

    constexpr std::int64_t W = detail::kLanes;
    const std::int64_t body = N - N % W;
    const auto rows = [&](std::int64_t r0, std::int64_t r1) {
        using simd::FloatV;
        while (r0 < r1) {
            const std::int64_t h = r0 / P, r_end = std::min(r1, (h + 1) * P);
            const std::int64_t g = h / (H / s.groups);
            const float A = -std::exp(A_log[std::size_t(h)]);
            for (std::int64_t t = 0; t < T; ++t) {
                const float delta = detail::softplus(dt(t, h) + dt_bias[std::size_t(h)]);
                const float decay = std::exp(delta * A);
                const float* bt = B.row(t) + g * N;
                const float* ct = C.row(t) + g * N;
                for (std::int64_t r = r0; r < r_end; ++r) {
                    const float xv = x(t, r), dx = delta * xv;
                    float* hr = state.row(r);
                    FloatV acc(0.f);
                    std::int64_t n = 0;
                    for (; n < body; n += W) {
                        const FloatV hn = xsimd::fma(FloatV(decay), simd::load(hr + n), FloatV(dx) * simd::load(bt + n));
                        simd::store(hr + n, hn);
                        acc = xsimd::fma(hn, simd::load(ct + n), acc);
                    }
                    float yv = xsimd::hadd(acc);
                    for (; n < N; ++n) {
                        hr[n] = decay * hr[n] + dx * bt[n];
                        yv += hr[n] * ct[n];
                    }
                    y(t, r) = yv + D[std::size_t(h)] * xv;
                }
            }
            r0 = r_end;
        }
    };
    if (pool)
        pool->parallel_for(H * P, rows);
    else
        rows(0, H * P);
}

}  // namespace lamina::kernels
