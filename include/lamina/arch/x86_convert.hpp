#pragma once
// ---- Raw x86 intrinsics: the one place for the widening conversions xsimd 8.1 lacks (16→32-bit floats, int8 →
// float). Each has a portable fallback and uses an intrinsic only when the translation unit is compiled for it. ----
#if defined(__x86_64__) && (defined(__AVX512F__) || defined(__F16C__) || defined(__AVX2__) || defined(__SSE4_1__))
#include <immintrin.h>
#endif
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lamina::arch {

// Returns how many leading elements were converted (a multiple of the vector width); the caller finishes the tail.
inline std::size_t widen_bf16(const std::uint16_t* in, float* out, std::size_t n) {
    std::size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
#elif defined(__AVX2__)
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
        _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
#endif
    (void)in, (void)out, (void)n;
    return i;
}

inline std::size_t widen_f16(const std::uint16_t* in, float* out, std::size_t n) {
    std::size_t i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
#elif defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
#endif
    (void)in, (void)out, (void)n;
    return i;
}

// One float register (an xsimd batch of 16, 8 or 4 floats) from as many int8 values at p: the int8 KV cache's load.
template <class Batch>
inline Batch widen_i8(const std::int8_t* p) {
#if defined(__AVX512F__)
    if constexpr (Batch::size == 16)
        return Batch(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
#endif
#if defined(__AVX2__)
    if constexpr (Batch::size == 8)
        return Batch(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))));
#endif
#if defined(__SSE4_1__)
    if constexpr (Batch::size == 4) {
        std::int32_t bytes;
        std::memcpy(&bytes, p, sizeof bytes);
        return Batch(_mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(bytes))));
    }
#endif
    alignas(64) float lanes[Batch::size];
    for (std::size_t i = 0; i < Batch::size; ++i) lanes[i] = float(p[i]);
    return Batch::load_aligned(lanes);
}

}  // namespace lamina::arch
