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
// result of one call (up to rounding when the Mamba-2 calls take different forms, below). Threads split channels
// (Mamba-1, conv) or state rows / heads (Mamba-2), never time, so results do not depend on the thread count.
//
// Mamba-2 prefill (T ≥ kSsdChunkedFrom) takes the chunked form of SSD (torch_forward's chunk_size path): per chunk of
// L tokens and head, with cum_i the running sum of Δ·A inside the chunk and S the state carried in ([head_dim,
// d_state]),
//   y_i   = Σ_{j≤i} exp(cum_i − cum_j)·Δ_j·(B_j·C_i)·x_j + exp(cum_i)·S·C_i + D·x_i
//   S_out = exp(cum_L)·S + Σ_j exp(cum_L − cum_j)·Δ_j·x_j ⊗ B_j,
// which are matrix products run on the GEMM micro-kernel, against the recurrence's state-sized vector work per
// token. The FLOPs are about the same (2·head_dim·(2·d_state + L/2) per token and head against 5·head_dim·d_state),
// but the products run at several times the recurrence's ~15% of the FMA peak: Mamba-2-130M sizes, 1024 tokens,
// 3.5× (bench/scan_bench.cpp). Its exp(cum) factors reach denormal range within a chunk, so it runs with FTZ/DAZ
// set (arch/denormals.hpp): without, it was 2.5× slower.
#include "lamina/arch/denormals.hpp"
#include "lamina/core/arena.hpp"
#include "lamina/core/simd.hpp"
#include "lamina/core/tensor.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/kernels/activation.hpp"
#include "lamina/kernels/gemm.hpp"
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
    parallel_for(pool, channel_blocks(channels), run);
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
// call (the exp of A_log taken once) and the state scattered back at the end. Tokens go kScanTile at a time through
// every block, so the blocks of a thread read the same rows one after another; scanning each block over all T
// tokens read one cache line per row at a 6–12 KB stride, which no prefetcher follows.
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
    constexpr std::int64_t kScanTile = 64;
    ArenaScope scope(arena);
    const std::size_t tile_floats = std::size_t(detail::channel_blocks(E) * N * W);
    float* a_tiles = arena.alloc<float>(tile_floats).data();
    float* h_tiles = arena.alloc<float>(tile_floats).data();
    // One parallel region per tile of tokens (one in all for a decode step); the first gathers, the last scatters.
    for (std::int64_t t0 = 0; t0 < std::max<std::int64_t>(T, 1); t0 += kScanTile) {
        const std::int64_t t1 = std::min(T, t0 + kScanTile);
        detail::for_channel_blocks(E, pool, [&]<bool Full>(std::int64_t b, std::int64_t c0, int lanes) {
            using simd::FloatV;
            float* a = a_tiles + b * N * W;
            float* h = h_tiles + b * N * W;
            if (t0 == 0) {
                // Padding lanes get A = −1 and h = 0; with u = 0 there, h stays 0.
                for (int l = 0; l < W; ++l)
                    for (std::int64_t n = 0; n < N; ++n) {
                        a[n * W + l] = l < lanes ? A_log(c0 + l, n) : 0.f;
                        h[n * W + l] = l < lanes ? state(c0 + l, n) : 0.f;
                    }
                for (std::int64_t n = 0; n < N; ++n)
                    (-vmath::exp(FloatV::load_aligned(a + n * W))).store_aligned(a + n * W);
            }
            const FloatV d = detail::load_lanes<Full>(D.data() + c0, lanes);
            for (std::int64_t t = t0; t < t1; ++t) {
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
            if (t1 == T)
                for (int l = 0; l < lanes; ++l)
                    for (std::int64_t n = 0; n < N; ++n) state(c0 + l, n) = h[n * W + l];
        });
    }
}

// Sizes of a Mamba-2 scan: heads of head_dim channels, B and C shared by heads / groups consecutive heads.
struct SsdShape {
    std::int64_t heads = 0, head_dim = 0, groups = 1, d_state = 0;
};

// Tokens per chunk of the chunked Mamba-2 scan, a whole number of micro-kernel row blocks. Measured on the 130M sizes
// (BM_mamba2_scan/T:1024, 1 thread, AVX-512): 24 → 9.7 ms, 48 → 10.3, 72 → 11.6, 96 → 12.5 (the sequential scan
// 34 ms). Per token the products cost 2·head_dim·(2·d_state + L/2) FLOPs, so short chunks waste the least on the
// causal triangle.
inline constexpr std::int64_t kSsdChunk = 24;
static_assert(kSsdChunk % kMR == 0);
// Calls of at least this many tokens take the chunked form; decode steps and short verify passes the recurrence.
// Measured crossover (same bench): T = 16 chunked 519 µs vs recurrence 420; T = 32 635 vs 841; T = 128 1.46 vs 3.7 ms.
inline constexpr std::int64_t kSsdChunkedFrom = kSsdChunk;

// Arena bytes of ssd_scan for T tokens: the chunked form's per-chunk tables (none for the recurrence).
inline std::size_t ssd_scan_scratch_bytes(const SsdShape& s, std::int64_t T) {
    if (T < kSsdChunkedFrom) return 0;
    const std::int64_t chunks = (T + kSsdChunk - 1) / kSsdChunk;
    return std::size_t(chunks * s.groups * ((s.d_state + kSsdChunk) * kSsdChunk + simd::kWidth)) * sizeof(float) +
           simd::kAlign;
}

namespace detail {

// dst[0:kMR] = f(offset) for the kMR-wide rows of a packed block, one vector at a time. Lanes past kMR spill into
// the next row, which the caller writes afterwards (or into padding), so no masks are needed.
template <class F>
inline void store_block_row(float* dst, F&& f) {
    for (int c = 0; c < kMR; c += kLanes) simd::store(dst + c, f(c));
}

// The chunked Mamba-2 scan (header comment); shapes are checked by ssd_scan.
//
// All operands are laid out for the GEMM micro-kernel: the chunk's L tokens in row blocks of kMR, each block's
// rows k-major (step k, row i at [k·kMR + i]), against panels of kNR state channels. Per chunk and group, the
// head-independent parts are packed once: C per block (k = n) and the causal couplings Gᵀ (k = j, row i:
// B_j·C_i for j ≤ i, else 0). Threads then take whole heads, each keeping its state transposed in the panels (d_state
// rows) across the chunks:
//   y rows i    = [exp(cum_i)·C_i | M_i] · [Sᵀ; X],   M[i][j] = exp(cum_i − cum_j)·Δ_j·Gᵀ[j][i] (+ D if i = j)
//   Sᵀ rows n   = exp(cum_L)·Sᵀ_n + Σ_j B_j[n] · w_j·X_j,   w_j = exp(cum_L − cum_j)·Δ_j
// with B read in place as the k-major rows of the second product. exp(min(cum_i − cum_j, 0)) keeps the masked
// upper triangle finite (Gᵀ is 0 there). Heads are independent, so results do not depend on the thread count.
inline void ssd_scan_chunked(const SsdShape& s, TensorView<const float> x, TensorView<const float> dt,
                             std::span<const float> dt_bias, std::span<const float> A_log, TensorView<const float> B,
                             TensorView<const float> C, std::span<const float> D, TensorView<float> y,
                             TensorView<float> state, Arena& arena, ThreadPool* pool) {
    using simd::FloatV;
    constexpr std::int64_t L = kSsdChunk, MR = kMR, NR = kNR, W = kLanes;
    const std::int64_t T = x.rows(), H = s.heads, P = s.head_dim, N = s.d_state, G = s.groups;
    const std::int64_t chunks = (T + L - 1) / L, block = (N + L) * MR, table = (N + L) * L + W;
    ArenaScope scope(arena);
    float* tables = arena.alloc<float>(std::size_t(chunks * G * table)).data();
    const auto build = [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t b = b0; b < b1; ++b) {
            const std::int64_t t0 = b / G * L, g = b % G, len = std::min(L, T - t0);
            float* packed = tables + b * table;  // per row block: C rows (k = n), then Gᵀ rows (k = j)
            std::fill_n(packed, table, 0.f);
            for (std::int64_t i = 0; i < len; ++i) {
                float* blk = packed + i / MR * block + i % MR;
                const float* ci = C.row(t0 + i) + g * N;
                for (std::int64_t n = 0; n < N; ++n) blk[n * MR] = ci[n];
                for (std::int64_t j = 0; j <= i; ++j) {
                    const float* bj = B.row(t0 + j) + g * N;
                    FloatV acc(0.f);
                    std::int64_t n = 0;
                    for (; n + W <= N; n += W) acc = xsimd::fma(simd::load(bj + n), simd::load(ci + n), acc);
                    float sum = xsimd::hadd(acc);
                    for (; n < N; ++n) sum += bj[n] * ci[n];
                    blk[(N + j) * MR] = sum;
                }
            }
        }
    };
    parallel_for(pool, chunks * G, build);

    const std::int64_t panels = (P + NR - 1) / NR, panel = (N + L) * NR;  // a panel: Sᵀ rows, then the chunk's X rows
    const std::int64_t blocks = (L / MR * block + W + W - 1) / W * W;  // whole vectors, so the panels stay aligned
    const std::size_t workspace = std::size_t(blocks + panels * panel + 3 * (L + W));
    const auto heads = [&](std::int64_t h0, std::int64_t h1) {
        // Per thread, grown once (like the GEMM's packed rows): the first product's row blocks, the panels, and the
        // chunk's Δ, cum and exp(cum), padded for whole-vector reads.
        const arch::FlushDenormals ftz;
        thread_local AlignedBuffer<float> buffer;
        if (buffer.size() < workspace) buffer = AlignedBuffer<float>(workspace);
        float* a = buffer.data();
        float* z = a + blocks;
        float* delta = z + panels * panel;
        float* cum = delta + L + W;
        float* growth = cum + L + W;
        std::fill_n(delta, 3 * (L + W), 0.f);
        const auto channel = [&](std::int64_t q, std::int64_t c) { return q * NR + c; };
        for (std::int64_t h = h0; h < h1; ++h) {
            const std::int64_t g = h / (H / G);
            const float A = -std::exp(A_log[std::size_t(h)]), Dh = D[std::size_t(h)];
            for (std::int64_t q = 0; q < panels; ++q)
                for (std::int64_t n = 0; n < N; ++n)
                    for (std::int64_t c = 0; c < NR; ++c)
                        z[q * panel + n * NR + c] = channel(q, c) < P ? state(h * P + channel(q, c), n) : 0.f;
            for (std::int64_t t0 = 0; t0 < T; t0 += L) {
                const std::int64_t len = std::min(L, T - t0);
                const float* packed = tables + (t0 / L * G + g) * table;
                float run = 0.f;
                for (std::int64_t i = 0; i < L; ++i) {  // past len: Δ = 0, cum constant
                    delta[i] = i < len ? softplus(dt(t0 + i, h) + dt_bias[std::size_t(h)]) : 0.f;
                    cum[i] = run += delta[i] * A;
                    growth[i] = std::exp(cum[i]);
                }
                for (std::int64_t i0 = 0; i0 < len; i0 += MR) {
                    const float* src = packed + i0 / MR * block;
                    float* dst = a + i0 / MR * block;
                    for (std::int64_t n = 0; n < N; ++n)
                        store_block_row(dst + n * MR, [&](int c) {
                            return simd::load(growth + i0 + c) * simd::load(src + n * MR + c);
                        });
                    for (std::int64_t j = 0; j < i0 + MR; ++j) {
                        const FloatV cj(cum[j]), dj(delta[j]);
                        store_block_row(dst + (N + j) * MR, [&](int c) {
                            const FloatV decay = vmath::exp(xsimd::min(simd::load(cum + i0 + c) - cj, FloatV(0.f)));
                            return decay * dj * simd::load(src + (N + j) * MR + c);
                        });
                    }
                    for (std::int64_t j = i0; j < i0 + MR; ++j) dst[(N + j) * MR + j - i0] += Dh;
                }
                for (std::int64_t q = 0; q < panels; ++q)
                    for (std::int64_t i = 0; i < L; ++i) {
                        float* row = z + q * panel + (N + i) * NR;
                        if (i < len && channel(q, NR) <= P) {
                            std::copy_n(x.row(t0 + i) + h * P + q * NR, NR, row);
                        } else {
                            for (std::int64_t c = 0; c < NR; ++c)
                                row[c] = i < len && channel(q, c) < P ? x(t0 + i, h * P + channel(q, c)) : 0.f;
                        }
                    }
                // y, for the rows of the chunk (M is 0 right of a block's last row, so k stops there).
                for (std::int64_t i0 = 0; i0 < len; i0 += MR) {
                    const int m = int(std::min(MR, len - i0));
                    for (std::int64_t q = 0; q < panels; ++q)
                        micro_kernel_rows<float>(m, N + i0 + m, a + i0 / MR * block, MR, z + q * panel,
                                                 y.row(t0 + i0) + h * P + q * NR, y.ld(), int(std::min(NR, P - q * NR)),
                                                 false, false);
                }
                // The carried state: decay Sᵀ to the chunk's end, weight X, then add Bᵀ·X.
                const float last = cum[len - 1];
                const FloatV keep(growth[len - 1]);
                for (std::int64_t q = 0; q < panels; ++q) {
                    float* zq = z + q * panel;
                    for (std::int64_t k = 0; k < N * NR; k += W) (keep * FloatV::load_aligned(zq + k)).store_aligned(zq + k);
                    for (std::int64_t i = 0; i < len; ++i) {
                        const FloatV w(std::exp(last - cum[i]) * delta[i]);
                        for (std::int64_t c = 0; c < NR; c += W)
                            (w * FloatV::load_aligned(zq + (N + i) * NR + c)).store_aligned(zq + (N + i) * NR + c);
                    }
                    for (std::int64_t n0 = 0; n0 < N; n0 += MR)
                        micro_kernel_rows<float>(int(std::min(MR, N - n0)), len, B.row(t0) + g * N + n0, B.ld(),
                                                 zq + N * NR, zq + n0 * NR, NR, int(NR), true, false);
                }
            }
            for (std::int64_t q = 0; q < panels; ++q)
                for (std::int64_t n = 0; n < N; ++n)
                    for (std::int64_t c = 0; c < NR && channel(q, c) < P; ++c)
                        state(h * P + channel(q, c), n) = z[q * panel + n * NR + c];
        }
    };
    parallel_for(pool, H, heads);
}

}  // namespace detail

// Mamba-2 scan over T tokens (see the header comment), updating `state` in place.
//   x, y [T, heads·head_dim]; dt [T, heads] (before dt_bias and the softplus); B, C [T, groups·d_state];
//   dt_bias, A_log, D [heads]; state [heads·head_dim, d_state]. y may be x itself; rows may be strided.
//
// `arena` holds ssd_scan_scratch_bytes(s, T). From kSsdChunkedFrom tokens the chunked form runs; below, the
// recurrence: each state row (head h, channel p) is a d_state vector updated with one scalar decay per token, so
// the vector runs along d_state and y is one horizontal sum per row. Within a head the loop is token-major: the
// head's head_dim × d_state state stays in L1 while its rows share the token's decay, B and C.
inline void ssd_scan(const SsdShape& s, TensorView<const float> x, TensorView<const float> dt,
                     std::span<const float> dt_bias, std::span<const float> A_log, TensorView<const float> B,
                     TensorView<const float> C, std::span<const float> D, TensorView<float> y, TensorView<float> state,
                     Arena& arena, ThreadPool* pool = nullptr) {
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
    if (T >= kSsdChunkedFrom) return detail::ssd_scan_chunked(s, x, dt, dt_bias, A_log, B, C, D, y, state, arena, pool);

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
    parallel_for(pool, H * P, rows);
}

}  // namespace lamina::kernels
