#pragma once
// Scoped flush-to-zero for the calling thread. Denormal operands and results cost a microcode assist each (~100
// cycles on Intel cores); kernels whose products run through long decays (the chunked Mamba-2 scan multiplies by
// exp(cum) down to 1e-40 and below) set FTZ and DAZ for their duration. Values below 1.2e-38 then read and write as
// zero — far under any tolerance of an f32 network. x86 only (MXCSR); elsewhere a no-op.
#if defined(__x86_64__) || defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace lamina::arch {

class FlushDenormals {
public:
#if defined(__x86_64__) || defined(__SSE__)
    FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
    ~FlushDenormals() { _mm_setcsr(saved_); }

private:
    static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
    unsigned saved_;
#else
    FlushDenormals() = default;
#endif
public:
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;
};

}  // namespace lamina::arch
