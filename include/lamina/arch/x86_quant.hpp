#pragma once
// ---- Raw x86 intrinsics for the quantized dot-product tile (kernels/quant/quant_gemm.hpp), which xsimd 8.1 cannot
// express (no u8×s8 dot products). quant_tile_q8 / quant_tile_q4 have the signature and the exact arithmetic of
// the scalar reference there — integer block dots, then acc = fma(float(dot), w_scale · a_scale, acc) block after
// block — so their results are bit-identical to it. LAMINA_ARCH_QUANT_TILE says whether this TU has them.
//
// AVX-512 VNNI: one `vpdpbusd` per 64-byte chunk (16 rows × 4 k) and activation plane, with the activation's 4 bytes
// broadcast; q8's optional second plane (fine) accumulates apart and combines per block as 254·coarse + fine.
// AVX2: `vpmaddubsw` + `vpmaddwd` per 32-byte half. maddubs saturates its 16-bit pair sums, so q8 runs on signed
// weights with the sign moved onto the activation (|w| ≤ 128, |a| ≤ 127: 2·128·127 < 2^15) and needs no offset
// correction; with a fine plane, the coarse plane's maddwd multiplies by 254 instead of 1, so both share one
// accumulator.
// q4 nibbles (≤ 15) cannot saturate.
#if defined(__x86_64__) && ((defined(__AVX512VNNI__) && defined(__AVX512BW__)) || defined(__AVX2__))
#include <immintrin.h>
#define LAMINA_ARCH_QUANT_TILE 1
#else
#define LAMINA_ARCH_QUANT_TILE 0
#endif
#include "lamina/kernels/quant/formats.hpp"  // kFineSteps

#include <cstdint>
#include <cstring>

#if LAMINA_ARCH_QUANT_TILE
namespace lamina::arch {

// Activation rows per tile. AVX-512: 8 int + 8 f32 accumulators + weights fit 32 zmm; AVX2: 4 × 2 halves × 2 in 16.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
inline constexpr int kQuantTileMaxRows = 8;
#else
inline constexpr int kQuantTileMaxRows = 4;
#endif

namespace detail {

inline std::int32_t load4(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// MR activation rows × one 16-row group over nb blocks. Q4 selects the nibble tile (one activation plane); Fine, a
// q8 product with the second plane. See quant_matrix.hpp for the tile layout.
template <int MR, bool Q4, bool Fine>
inline void quant_tile(const std::uint8_t* group, std::int64_t nb, const std::int8_t* a, const std::int8_t* a_fine,
                       const float* a_scales, const std::int32_t* a_sums, std::int64_t a_blocks, float* out) {
    constexpr int chunks = Q4 ? 4 : 8;
    constexpr std::int64_t tile_bytes = chunks * 64 + 64;
    constexpr int offset_shift = Q4 ? 3 : 7;  // stored value = q + 8 | q + 128
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    // Independent dot chains per row: the two planes, or, for short (latency-bound) tiles, alternate chunks.
    constexpr int S = Fine || MR <= 2 ? 2 : 1;
    __m512 acc[MR];
    for (auto& v : acc) v = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* t = group + b * tile_bytes;
        __m512i dot[S][MR];
        for (auto& s : dot)
            for (auto& v : s) v = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < chunks; ++c) {
            const __m512i w = _mm512_load_si512(t + 64 * c);
            const __m512i lo = Q4 ? _mm512_and_si512(w, low4) : w;
#pragma GCC unroll 8
            for (int m = 0; m < MR; ++m) {
                const std::int64_t at = (m * a_blocks + b) * 32;
                if constexpr (Fine) {
                    dot[0][m] = _mm512_dpbusd_epi32(dot[0][m], w, _mm512_set1_epi32(load4(a + at + 4 * c)));
                    dot[1][m] = _mm512_dpbusd_epi32(dot[1][m], w, _mm512_set1_epi32(load4(a_fine + at + 4 * c)));
                } else {
                    __m512i& d = dot[c % S][m];
                    d = _mm512_dpbusd_epi32(d, lo, _mm512_set1_epi32(load4(a + at + 4 * c)));
                    if constexpr (Q4) {
                        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
                        d = _mm512_dpbusd_epi32(d, hi, _mm512_set1_epi32(load4(a + at + 16 + 4 * c)));
                    }
                }
            }
        }
        const __m512 ws = _mm512_load_ps(reinterpret_cast<const float*>(t + chunks * 64));
#pragma GCC unroll 8
        for (int m = 0; m < MR; ++m) {
            __m512i d = dot[0][m];
            if constexpr (Fine)
                d = _mm512_add_epi32(_mm512_mullo_epi32(d, _mm512_set1_epi32(kFineSteps)), dot[1][m]);
            else if constexpr (S == 2)
                d = _mm512_add_epi32(d, dot[1][m]);
            d = _mm512_sub_epi32(d, _mm512_set1_epi32(a_sums[m * a_blocks + b] << offset_shift));
            const __m512 scale = _mm512_mul_ps(ws, _mm512_set1_ps(a_scales[m * a_blocks + b]));
            acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), scale, acc[m]);
        }
    }
    for (int m = 0; m < MR; ++m) _mm512_storeu_ps(out + 16 * m, acc[m]);
#else  // AVX2: the 16 rows as two 8-lane halves
    __m256 acc[MR][2];
    for (auto& r : acc) r[0] = r[1] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8(char(0x80));
    const __m256i coarse = _mm256_set1_epi16(kFineSteps);
    for (std::int64_t b = 0; b < nb; ++b) {
        const std::uint8_t* t = group + b * tile_bytes;
        __m256i dot[MR][2];
        for (auto& r : dot) r[0] = r[1] = _mm256_setzero_si256();
        for (int c = 0; c < chunks; ++c)
            for (int h = 0; h < 2; ++h) {
                const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(t + 64 * c + 32 * h));
                for (int m = 0; m < MR; ++m) {
                    const std::int64_t at = (m * a_blocks + b) * 32;
                    const __m256i x = _mm256_set1_epi32(load4(a + at + 4 * c));
                    __m256i p;
                    if constexpr (Q4) {
                        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
                        const __m256i xh = _mm256_set1_epi32(load4(a + at + 16 + 4 * c));
                        p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(w, low4), x), ones),
                                             _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), ones));
                    } else {
                        const __m256i ws = _mm256_xor_si256(w, flip);  // back to two's complement q
                        const __m256i aw = _mm256_abs_epi8(ws);
                        p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, ws)), Fine ? coarse : ones);
                        if constexpr (Fine) {
                            const __m256i xf = _mm256_set1_epi32(load4(a_fine + at + 4 * c));
                            p = _mm256_add_epi32(p, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(xf, ws)),
                                                                      ones));
                        }
                    }
                    dot[m][h] = _mm256_add_epi32(dot[m][h], p);
                }
            }
        const float* ws = reinterpret_cast<const float*>(t + chunks * 64);
        for (int m = 0; m < MR; ++m) {
            const __m256 as = _mm256_set1_ps(a_scales[m * a_blocks + b]);
            const __m256i corr = _mm256_set1_epi32(Q4 ? a_sums[m * a_blocks + b] << offset_shift : 0);
            for (int h = 0; h < 2; ++h) {
                const __m256i d = _mm256_sub_epi32(dot[m][h], corr);
                const __m256 scale = _mm256_mul_ps(_mm256_load_ps(ws + 8 * h), as);
                acc[m][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), scale, acc[m][h]);
            }
        }
    }
    for (int m = 0; m < MR; ++m) {
        _mm256_storeu_ps(out + 16 * m, acc[m][0]);
        _mm256_storeu_ps(out + 16 * m + 8, acc[m][1]);
    }
#endif
}

template <bool Q4, bool Fine, int MR = kQuantTileMaxRows>
inline void quant_tile_rows(int mr, const std::uint8_t* group, std::int64_t nb, const std::int8_t* a,
                            const std::int8_t* a_fine, const float* a_scales, const std::int32_t* a_sums,
                            std::int64_t a_blocks, float* out) {
    if constexpr (MR > 1) {
        if (mr < MR) return quant_tile_rows<Q4, Fine, MR - 1>(mr, group, nb, a, a_fine, a_scales, a_sums, a_blocks, out);
    }
    quant_tile<MR, Q4, Fine>(group, nb, a, a_fine, a_scales, a_sums, a_blocks, out);
}

}  // namespace detail

inline void quant_tile_q8(int mr, const std::uint8_t* group, std::int64_t nb, const std::int8_t* a,
                          const std::int8_t* a_fine, const float* a_scales, const std::int32_t* a_sums,
                          std::int64_t a_blocks, float* out) {
    if (a_fine)
        detail::quant_tile_rows<false, true>(mr, group, nb, a, a_fine, a_scales, a_sums, a_blocks, out);
    else
        detail::quant_tile_rows<false, false>(mr, group, nb, a, nullptr, a_scales, a_sums, a_blocks, out);
}
inline void quant_tile_q4(int mr, const std::uint8_t* group, std::int64_t nb, const std::int8_t* a,
                          const float* a_scales, const std::int32_t* a_sums, std::int64_t a_blocks, float* out) {
    detail::quant_tile_rows<true, false>(mr, group, nb, a, nullptr, a_scales, a_sums, a_blocks, out);
}

}  // namespace lamina::arch
#endif
