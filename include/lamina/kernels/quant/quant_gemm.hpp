#pragma once
// y = act(x · Wᵀ + bias) (+ y) for block-quantized weights (QuantMatrix<q8|q4>), the quantized twin of gemm.hpp with
// the same Epilogue and the same threading contract (threads split N in whole 16-row groups, never K, so results do
// not depend on the thread count).
//
// The activations are quantized on the fly, per row and per block of 32, to int8 (step s = max|x| / 127), so every
// product is an integer dot product of 32 bytes; each block's integer sum is rescaled in f32:
//     acc_r = fma(float(Σ_k w_rk · a_k  −  offset · Σ_k a_k), w_scale_r · a_scale, acc_r)      block after block
// A q8 matrix built with QuantActivations::int16 takes a second int8 plane, the rounding residual in steps of s / 254:
// a = 254·a_coarse + a_fine in units of a_scale = s / 254 (int16-like precision, |a| < 2^15), and the dot is
// 254·Σ w·a_coarse + Σ w·a_fine, two integer dot products per block. On kjv-llama (held-out text) one plane takes
// q8's logit error from 0.69% (weights alone) to 1.13%, two planes to 0.70%; they cost no weight bytes, so decode
// stays bandwidth-bound, but twice the integer work, so prefill loses about 45% (README, "Quantized weights").
// q4 keeps one plane: its weight rounding dwarfs the activations'.
// The weights are never expanded to f32. Every implementation of the tile — the scalar reference below, AVX-512
// VNNI and AVX2 in arch/x86_quant.hpp — performs exactly this arithmetic in this order, so all are bit-identical,
// and decode (M = 1) and prefill (M > 1) give the same row results.
//
// Blocking: a tile is ≤ kQuantMR activation rows × one 16-row weight group over all of K (the group's tiles, K·1.1 B
// for q8, stay in L2 while the rows stream past); the activation rows are taken kQuantL2Bytes at a time so they are
// re-read from L2, not L3, for every group.
#include "lamina/arch/x86_quant.hpp"
#include "lamina/kernels/gemm.hpp"
#include "lamina/kernels/quant/quant_matrix.hpp"

namespace lamina {
namespace kernels {

#if LAMINA_ARCH_QUANT_TILE
inline constexpr int kQuantMR = arch::kQuantTileMaxRows;
#else
inline constexpr int kQuantMR = 8;
#endif
inline constexpr std::int64_t kQuantL2Bytes = 512 << 10;  // half of Zen 5's 1 MiB L2; the weight group takes the rest

// Activation rows quantized per block: row m's block b is values[(m·blocks + b)·32 ...], scales[m·blocks + b],
// sums[m·blocks + b] (Σ of its 32 activations, for the offset correction). With `fine` (q8), the block's second plane
// is fine[(m·blocks + b)·32 ...], each activation is 254·value + fine in units of the scale, and the sum is theirs.
struct QuantizedRows {
    std::int8_t* values = nullptr;
    float* scales = nullptr;
    std::int32_t* sums = nullptr;
    std::int64_t blocks = 0;
    std::int8_t* fine = nullptr;
};

// Whether products with w take two-plane activations.
template <QuantFormat F>
bool fine_activations(const QuantMatrix<F>& w) {
    return F == QuantFormat::q8 && w.activations() == QuantActivations::int16;
}

namespace detail {

// Quantizes one row of K activations into nb blocks (the tail of the last block is zero).
inline void quantize_activation_row(const float* x, std::int64_t K, const QuantizedRows& out, std::int64_t m) {
    using simd::FloatV;
    using simd::I32V;
    constexpr int W = int(simd::kWidth);
    alignas(simd::kAlign) float padded[kQuantBlock];
    alignas(simd::kAlign) std::int32_t q[kQuantBlock], fine[kQuantBlock];
    for (std::int64_t b = 0; b < out.blocks; ++b) {
        const float* src = x + b * kQuantBlock;
        const std::int64_t n = std::min<std::int64_t>(kQuantBlock, K - b * kQuantBlock);
        if (n < kQuantBlock) {
            std::fill(std::copy(src, src + n, padded), padded + kQuantBlock, 0.f);
            src = padded;
        }
        FloatV amax(0.f);
        for (int i = 0; i < kQuantBlock; i += W) amax = xsimd::max(amax, xsimd::abs(simd::load(src + i)));
        const float m_abs = simd::hmax(amax);
        const FloatV inv(m_abs > 0.f ? 127.f / m_abs : 0.f);
        const std::int64_t at = m * out.blocks + b;
        I32V sum(0), fine_sum(0);
        for (int i = 0; i < kQuantBlock; i += W) {
            const FloatV steps = simd::load(src + i) * inv;
            const I32V v = xsimd::nearbyint_as_int(steps);
            v.store_aligned(q + i);
            sum += v;
            if (out.fine) {
                const I32V f = xsimd::nearbyint_as_int((steps - xsimd::to_float(v)) * FloatV(float(kFineSteps)));
                f.store_aligned(fine + i);
                fine_sum += f;
            }
        }
        std::int8_t* dst = out.values + at * kQuantBlock;
        for (int i = 0; i < kQuantBlock; ++i) dst[i] = std::int8_t(q[i]);
        if (out.fine) {
            std::int8_t* fdst = out.fine + at * kQuantBlock;
            for (int i = 0; i < kQuantBlock; ++i) fdst[i] = std::int8_t(fine[i]);
            out.scales[at] = m_abs / 127.f / float(kFineSteps);
            out.sums[at] = kFineSteps * xsimd::hadd(sum) + xsimd::hadd(fine_sum);
        } else {
            out.scales[at] = m_abs / 127.f;
            out.sums[at] = xsimd::hadd(sum);
        }
    }
}

// Scratch for the quantized activations, per calling thread: grows to the largest M·K seen, then stays.
inline QuantizedRows quantized_rows_scratch(std::int64_t M, std::int64_t blocks, bool with_fine) {
    thread_local AlignedBuffer<std::int8_t> values, fine;
    thread_local AlignedBuffer<float> scales;
    thread_local AlignedBuffer<std::int32_t> sums;
    const auto n = std::size_t(M * blocks);
    if (scales.size() < n) {
        values = AlignedBuffer<std::int8_t>(n * kQuantBlock);
        scales = AlignedBuffer<float>(n);
        sums = AlignedBuffer<std::int32_t>(n);
    }
    if (with_fine && fine.size() < n * kQuantBlock) fine = AlignedBuffer<std::int8_t>(n * kQuantBlock);
    return {values.data(), scales.data(), sums.data(), blocks, with_fine ? fine.data() : nullptr};
}

// Unsigned stored weight of row r, element k of a tile (the layout of quant_matrix.hpp).
template <QuantFormat F>
inline int tile_weight(const std::uint8_t* tile, int r, int k) {
    if constexpr (F == QuantFormat::q8) return tile[64 * (k / 4) + 4 * r + k % 4];
    const int kk = k % (kQuantBlock / 2);
    const std::uint8_t byte = tile[64 * (kk / 4) + 4 * r + kk % 4];
    return k < kQuantBlock / 2 ? byte & 0x0f : byte >> 4;
}

// The scalar reference tile: out[16·m + r] = row m of `a` · row r of the group, for m < mr; a_fine is the second
// activation plane of a q8 product, or null. The per-ISA versions in arch/x86_quant.hpp have this signature and this
// exact arithmetic.
template <QuantFormat F>
inline void quant_tile_reference(int mr, const std::uint8_t* group, std::int64_t nb, const std::int8_t* a,
                                 const std::int8_t* a_fine, const float* a_scales, const std::int32_t* a_sums,
                                 std::int64_t a_blocks, float* out) {
    constexpr std::int64_t tile_bytes = kQuantTileBytes<F>;
    for (int m = 0; m < mr; ++m)
        for (int r = 0; r < kQuantRows; ++r) {
            float acc = 0.f;
            for (std::int64_t b = 0; b < nb; ++b) {
                const std::uint8_t* tile = group + b * tile_bytes;
                const std::int64_t at = (m * a_blocks + b) * kQuantBlock;
                std::int32_t dot = 0, fine = 0;
                for (int k = 0; k < kQuantBlock; ++k) dot += tile_weight<F>(tile, r, k) * a[at + k];
                if (a_fine) {
                    for (int k = 0; k < kQuantBlock; ++k) fine += tile_weight<F>(tile, r, k) * a_fine[at + k];
                    dot = kFineSteps * dot + fine;
                }
                dot -= quant_offset(F) * a_sums[m * a_blocks + b];
                float w_scale;
                std::memcpy(&w_scale, tile + kQuantChunks<F> * 64 + 4 * r, sizeof w_scale);
                acc = std::fma(float(dot), w_scale * a_scales[m * a_blocks + b], acc);
            }
            out[kQuantRows * m + r] = acc;
        }
}

template <QuantFormat F>
inline void quant_tile(int mr, const std::uint8_t* group, std::int64_t nb, const QuantizedRows& a, std::int64_t m0,
                       float* out) {
    const std::int64_t at = m0 * a.blocks;
    const std::int8_t* fine = a.fine ? a.fine + at * kQuantBlock : nullptr;
#if LAMINA_ARCH_QUANT_TILE
    if constexpr (F == QuantFormat::q8)
        arch::quant_tile_q8(mr, group, nb, a.values + at * kQuantBlock, fine, a.scales + at, a.sums + at, a.blocks, out);
    else
        arch::quant_tile_q4(mr, group, nb, a.values + at * kQuantBlock, a.scales + at, a.sums + at, a.blocks, out);
#else
    quant_tile_reference<F>(mr, group, nb, a.values + at * kQuantBlock, fine, a.scales + at, a.sums + at, a.blocks,
                            out);
#endif
}

}  // namespace detail

// Quantizes the rows of x (as the kernels do) into `out`, which must hold x.rows() × blocks rows (and a fine plane
// as large when out.fine is set).
inline void quantize_activations(TensorView<const float> x, const QuantizedRows& out, ThreadPool* pool = nullptr) {
    auto rows = [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t m = r0; m < r1; ++m) detail::quantize_activation_row(x.row(m), x.cols(), out, m);
    };
    if (pool && x.rows() > 1)
        pool->parallel_for(x.rows(), rows);
    else
        rows(0, x.rows());
}

// y = act(x·Wᵀ + bias) (+ y). x [M, K], W quantized [N, K], y [M, N]. pool = nullptr runs on the calling thread.
template <QuantFormat F>
void gemm(TensorView<const float> x, const QuantMatrix<F>& w, TensorView<float> y, const Epilogue& ep = {},
          ThreadPool* pool = nullptr) {
    const std::int64_t M = x.rows(), K = w.cols(), N = w.rows();
    check_gemm_shapes("gemm (quantized)", x, N, K, y);
    LAMINA_CHECK(!(ep.accumulate && ep.activation != Activation::identity),
                 "gemm: an accumulating epilogue cannot apply an activation (", activation_name(ep.activation), ")");
    if (M == 0) return;
    const std::int64_t nb = w.blocks();
    const QuantizedRows a = detail::quantized_rows_scratch(M, nb, fine_activations(w));
    quantize_activations(x, a, pool);

    const std::int64_t mc = std::max<std::int64_t>(kQuantMR, kQuantL2Bytes / (nb * kQuantBlock) / kQuantMR * kQuantMR);
    auto groups = [&](std::int64_t g0, std::int64_t g1) {
        alignas(simd::kAlign) float tile[kQuantMR * kQuantRows];
        for (std::int64_t ic = 0; ic < M; ic += mc) {
            const std::int64_t ic_end = std::min(M, ic + mc);
            for (std::int64_t g = g0; g < g1; ++g) {
                const std::int64_t n0 = g * kQuantRows;
                const int n = int(std::min<std::int64_t>(kQuantRows, N - n0));
                for (std::int64_t m0 = ic; m0 < ic_end; m0 += kQuantMR) {
                    const int mr = int(std::min<std::int64_t>(kQuantMR, ic_end - m0));
                    detail::quant_tile<F>(mr, w.group(g), nb, a, m0, tile);
                    for (int i = 0; i < mr; ++i) {
                        float* row = y.row(m0 + i) + n0;
                        for (int j = 0; j < n; ++j)
                            row[j] = ep.accumulate ? row[j] + tile[kQuantRows * i + j] : tile[kQuantRows * i + j];
                    }
                    detail::finish_tile(y.row(m0) + n0, y.ld(), mr, n, ep.bias ? ep.bias + n0 : nullptr,
                                        ep.activation);
                }
            }
        }
    };
    parallel_for(pool, w.groups(), groups);
}

// The decode-step product y[N] = act(W·x + bias) (+ y) for one token.
template <QuantFormat F>
void gemv(std::span<const float> x, const QuantMatrix<F>& w, std::span<float> y, const Epilogue& ep = {},
          ThreadPool* pool = nullptr) {
    gemm(TensorView<const float>(x.data(), {1, std::int64_t(x.size())}), w,
         TensorView<float>(y.data(), {1, std::int64_t(y.size())}), ep, pool);
}

}  // namespace kernels
}  // namespace lamina
