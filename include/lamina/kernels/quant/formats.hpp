#pragma once
// Block-quantized weight formats, in their canonical (checkpoint) layout: row-major, each row of K weights cut into
// blocks of kQuantBlock, every block stored as small integers plus one f32 scale, value ≈ scale · q. The last
// block of a row is zero-padded when K is not a multiple of the block.
//
//   q8: q ∈ [-127, 127] int8,  scale = max|x| / 127.                                   1.125 bytes per weight
//   q4: q ∈ [-8, 7] as 4 bits, scale = m / -8 where m is the block's value of largest magnitude (so the extreme
//       lands exactly on -8 and all 16 levels are used; the scale may be negative). Byte i of a block holds
//       element i + 8 in its low nibble and element i + 16, + 8 in its high nibble (llama.cpp's q4_0 order).
//                                                                                       0.625 bytes per weight
// Both are symmetric (zero maps to zero, no per-block minimum). A q4k-style scale+min variant was measured: 9% lower
// RMSE on Gaussian blocks for 20% more bytes per weight (0.75 vs 0.625), and a small gain on a random Llama-shaped
// model (README); not implemented. The kernels never read this layout: QuantMatrix repacks it at load
// (kernels/quant/quant_matrix.hpp).
#include "lamina/core/error.hpp"
#include "lamina/core/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace lamina {

enum class QuantFormat : std::uint8_t { q8, q4 };

inline constexpr int kQuantBlock = 32;  // weights per block: one 256-bit row of int8, the llama.cpp/GGUF block size

constexpr std::string_view quant_format_name(QuantFormat f) { return f == QuantFormat::q8 ? "q8" : "q4"; }

inline std::optional<QuantFormat> parse_quant_format(std::string_view s) {
    if (s == "q8") return QuantFormat::q8;
    if (s == "q4") return QuantFormat::q4;
    return std::nullopt;
}

// How activations meet q8 weights in the integer kernels (kernels/quant/quant_gemm.hpp): one int8 plane per block of
// 32 (llama.cpp's Q8_0 × Q8_0; the fastest), or two int8 planes, coarse and residual, that together carry int16-like
// precision for twice the integer work. q4 weights always take one plane.
enum class QuantActivations : std::uint8_t { int8, int16 };

constexpr std::string_view quant_activations_name(QuantActivations a) {
    return a == QuantActivations::int8 ? "int8" : "int16";
}

// Units of the second (fine) plane per coarse int8 step: the residual of rounding to the coarse step lies in ±1/2
// step, so it quantizes to ±127 fine units.
inline constexpr int kFineSteps = 254;

inline std::optional<QuantActivations> parse_quant_activations(std::string_view s) {
    if (s == "int8") return QuantActivations::int8;
    if (s == "int16") return QuantActivations::int16;
    return std::nullopt;
}

// Bytes of quantized values in one block (scales are stored apart).
constexpr int quant_block_bytes(QuantFormat f) { return f == QuantFormat::q8 ? kQuantBlock : kQuantBlock / 2; }
// The unsigned encoding the kernels multiply: stored value = q + offset (q8 as 0..255, q4 nibbles as 0..15).
constexpr int quant_offset(QuantFormat f) { return f == QuantFormat::q8 ? 128 : 8; }

static_assert(kQuantBlock % 4 == 0, "integer dot products consume 4 bytes per 32-bit lane");
static_assert(kQuantBlock == 32, "the q4 nibble order and the packed tiles assume blocks of 32");

// A quantized matrix W [rows, cols] in the canonical layout above: what a quantized checkpoint stores and what the
// quantizer produces; QuantMatrix repacks it for the kernels.
struct QuantBlocks {
    QuantFormat format = QuantFormat::q8;
    std::int64_t rows = 0, cols = 0;
    std::vector<std::uint8_t> values;  // rows × blocks_per_row() × quant_block_bytes(format)
    std::vector<float> scales;         // rows × blocks_per_row()

    std::int64_t blocks_per_row() const { return (cols + kQuantBlock - 1) / kQuantBlock; }
    std::int64_t row_bytes() const { return blocks_per_row() * quant_block_bytes(format); }

    // Signed integer q of element (r, k) and the scale of its block.
    int q(std::int64_t r, std::int64_t k) const {
        const std::uint8_t* block = values.data() + r * row_bytes() + (k / kQuantBlock) * quant_block_bytes(format);
        const int i = int(k % kQuantBlock);
        if (format == QuantFormat::q8) return int(std::int8_t(block[i]));
        const std::uint8_t byte = block[i % (kQuantBlock / 2)];
        return (i < kQuantBlock / 2 ? byte & 0x0f : byte >> 4) - 8;
    }
    float scale(std::int64_t r, std::int64_t k) const { return scales[std::size_t(r * blocks_per_row() + k / kQuantBlock)]; }
    float dequantized(std::int64_t r, std::int64_t k) const { return scale(r, k) * float(q(r, k)); }

    // Throws unless the sizes agree and every scale is finite: a truncated or corrupt file must not reach a kernel.
    void validate(const std::string& what) const {
        LAMINA_CHECK(rows > 0 && cols > 0, what, ": quantized matrix [", rows, ", ", cols, "] is empty");
        LAMINA_CHECK(std::int64_t(values.size()) == rows * row_bytes(), what, ": ", values.size(),
                     " bytes of ", quant_format_name(format), " values, expected ", rows * row_bytes(), " for [", rows,
                     ", ", cols, "]");
        LAMINA_CHECK(std::int64_t(scales.size()) == rows * blocks_per_row(), what, ": ", scales.size(),
                     " scales, expected ", rows * blocks_per_row(), " (one per block of ", kQuantBlock, ")");
        for (std::size_t i = 0; i < scales.size(); ++i)
            LAMINA_CHECK(std::isfinite(scales[i]), what, ": scale ", i, " (row ", std::int64_t(i) / blocks_per_row(),
                         ", block ", std::int64_t(i) % blocks_per_row(), ") is ", scales[i]);
    }
};

namespace kernels::detail {

// One block of n ≤ kQuantBlock weights (the rest are zero) → its scale and bytes in the canonical layout.
inline float quantize_block(const float* x, int n, QuantFormat f, std::uint8_t* out) {
    float extreme = 0.f;  // the value of largest magnitude, with its sign
    for (int i = 0; i < n; ++i)
        if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    const float scale = f == QuantFormat::q8 ? std::fabs(extreme) / 127.f : extreme / -8.f;
    const float inv = scale != 0.f ? 1.f / scale : 0.f;
    const int lo = f == QuantFormat::q8 ? -127 : -8, hi = f == QuantFormat::q8 ? 127 : 7;
    auto q = [&](int i) { return i < n ? std::clamp(int(std::nearbyint(x[i] * inv)), lo, hi) : 0; };
    if (f == QuantFormat::q8) {
        for (int i = 0; i < kQuantBlock; ++i) out[i] = std::uint8_t(std::int8_t(q(i)));
    } else {
        for (int i = 0; i < kQuantBlock / 2; ++i)
            out[i] = std::uint8_t((q(i) + 8) | (q(i + kQuantBlock / 2) + 8) << 4);
    }
    return scale;
}

}  // namespace kernels::detail

// Quantizes W [rows, cols] (f32, row-major in lamina's [out, in] orientation) into the canonical layout.
inline QuantBlocks quantize(TensorView<const float> w, QuantFormat f) {
    LAMINA_CHECK(w.rank() == 2 && w.stride(1) == 1, "quantize: weights must be a matrix with contiguous rows");
    QuantBlocks q{f, w.rows(), w.cols(), {}, {}};
    LAMINA_CHECK(q.rows > 0 && q.cols > 0, "quantize: weights of shape [", q.rows, ", ", q.cols, "] are empty");
    const std::int64_t nb = q.blocks_per_row(), bb = quant_block_bytes(f);
    q.values.resize(std::size_t(q.rows * nb * bb));
    q.scales.resize(std::size_t(q.rows * nb));
    for (std::int64_t r = 0; r < q.rows; ++r)
        for (std::int64_t b = 0; b < nb; ++b) {
            const int n = int(std::min<std::int64_t>(kQuantBlock, q.cols - b * kQuantBlock));
            q.scales[std::size_t(r * nb + b)] =
                kernels::detail::quantize_block(w.row(r) + b * kQuantBlock, n, f, q.values.data() + (r * nb + b) * bb);
        }
    return q;
}

// Stacks matrices with the same cols and format along rows (fused q/k/v, gate/up), as the f32 loader does.
inline QuantBlocks stack_rows(std::vector<QuantBlocks> parts) {
    LAMINA_CHECK(!parts.empty(), "stack_rows: nothing to stack");
    QuantBlocks out = std::move(parts.front());
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const QuantBlocks& p = parts[i];
        LAMINA_CHECK(p.format == out.format && p.cols == out.cols, "stack_rows: part ", i, " is ",
                     quant_format_name(p.format), " with ", p.cols, " columns, part 0 is ", quant_format_name(out.format),
                     " with ", out.cols);
        out.values.insert(out.values.end(), p.values.begin(), p.values.end());
        out.scales.insert(out.scales.end(), p.scales.begin(), p.scales.end());
        out.rows += p.rows;
    }
    return out;
}

}  // namespace lamina
