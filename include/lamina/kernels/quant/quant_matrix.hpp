#pragma once
// QuantMatrix<F>: a quantized weight matrix W [N, K] repacked once, at load, into the layout the integer kernels
// stream. Rows are taken in groups of kQuantRows = 16 (one 512-bit register of 32-bit lanes: lane r accumulates row
// r of the group), and each group is one contiguous run of tiles, one tile per block of 32 k:
//
//   tile (group g, block b) = kQuantChunks chunks of 64 bytes, then 16 f32 scales (scale of row r at index r)
//   q8 chunk c (c < 8): byte 4r + j = q[row r][k = 32b + 4c + j] + 128                       → 8·64 + 64 = 576 B
//   q4 chunk c (c < 4): byte 4r + j = (q[r][32b + 4c + j] + 8) | (q[r][32b + 16 + 4c + j] + 8) << 4  → 4·64 + 64 = 320 B
//
// so one 64-byte load feeds one (q8) or, split into nibbles, two (q4) `vpdpbusd` steps of 16 rows × 4 k each, with
// the activations' 4 bytes broadcast to every lane: no horizontal sums, no shuffles. Values are stored unsigned
// (q + offset) because vpdpbusd multiplies unsigned by signed bytes; the kernels subtract offset·Σa per block.
// Padding rows (past N) hold q = 0 and scale 0. The canonical layout (formats.hpp) is what checkpoints store.
#include "lamina/core/aligned.hpp"
#include "lamina/kernels/quant/formats.hpp"

#include <cstring>

namespace lamina {

namespace kernels {
inline constexpr int kQuantRows = 16;        // rows per group: one zmm of int32 lanes
inline constexpr int kQuantChunkBytes = 64;  // one cache line, one zmm: 16 rows × 4 bytes
template <QuantFormat F>
inline constexpr int kQuantChunks = quant_block_bytes(F) * kQuantRows / kQuantChunkBytes;
template <QuantFormat F>
inline constexpr std::int64_t kQuantTileBytes = kQuantChunks<F> * kQuantChunkBytes + kQuantRows * sizeof(float);

static_assert(kQuantRows * 4 == kQuantChunkBytes, "a chunk is 4 k-steps of every row of the group");
static_assert(kQuantChunks<QuantFormat::q8> == 8 && kQuantChunks<QuantFormat::q4> == 4);
static_assert(kQuantTileBytes<QuantFormat::q8> % 64 == 0 && kQuantTileBytes<QuantFormat::q4> % 64 == 0,
              "tiles start on cache lines");
}  // namespace kernels

template <QuantFormat F>
class QuantMatrix {
public:
    static constexpr QuantFormat format = F;
    static constexpr int R = kernels::kQuantRows;
    static constexpr std::int64_t tile_bytes = kernels::kQuantTileBytes<F>;

    QuantMatrix() = default;
    // `activations`: how the kernels quantize the activations this matrix multiplies (int16 for q8 only).
    explicit QuantMatrix(const QuantBlocks& q, QuantActivations activations = QuantActivations::int8)
        : n_(q.rows), k_(q.cols), activations_(activations) {
        LAMINA_CHECK(q.format == F, "QuantMatrix<", quant_format_name(F), ">: got ", quant_format_name(q.format),
                     " blocks");
        LAMINA_CHECK(F == QuantFormat::q8 || activations == QuantActivations::int8, "QuantMatrix<",
                     quant_format_name(F), ">: ", quant_activations_name(activations),
                     " activations apply to q8 weights only");
        q.validate("QuantMatrix");
        const std::int64_t nb = blocks();
        data_ = AlignedBuffer<std::uint8_t>(std::size_t(groups() * nb * tile_bytes));
        for (std::int64_t g = 0; g < groups(); ++g)
            for (std::int64_t b = 0; b < nb; ++b) {
                std::uint8_t* tile = data_.data() + (g * nb + b) * tile_bytes;
                float scales[R] = {};
                for (int r = 0; r < R; ++r) {
                    const std::int64_t n = g * R + r;
                    const std::uint8_t* src = n < n_ ? q.values.data() + n * q.row_bytes() + b * quant_block_bytes(F)
                                                     : nullptr;
                    if (n < n_) scales[r] = q.scales[std::size_t(n * nb + b)];
                    for (int c = 0; c < kernels::kQuantChunks<F>; ++c)
                        for (int j = 0; j < 4; ++j) tile[c * 64 + 4 * r + j] = packed_byte(src, c, j);
                }
                std::memcpy(tile + kernels::kQuantChunks<F> * 64, scales, sizeof scales);
            }
    }

    std::int64_t rows() const { return n_; }  // N: outputs
    std::int64_t cols() const { return k_; }  // K: inputs
    std::int64_t blocks() const { return (k_ + kQuantBlock - 1) / kQuantBlock; }
    std::int64_t groups() const { return (n_ + R - 1) / R; }
    const std::uint8_t* group(std::int64_t g) const { return data_.data() + g * blocks() * tile_bytes; }
    std::size_t bytes() const { return data_.size(); }  // what one product streams
    QuantActivations activations() const { return activations_; }

private:
    // Byte j of row r's 4-byte lane in chunk c, from the row's canonical block (null: a padding row, q = 0).
    static std::uint8_t packed_byte(const std::uint8_t* block, int c, int j) {
        if constexpr (F == QuantFormat::q8) {
            return block ? std::uint8_t(block[4 * c + j] ^ 0x80u) : 0x80u;  // two's complement + 128
        } else {
            if (!block) return 0x88u;
            // Canonical byte i holds k = i (low) and k = i + 16 (high): exactly chunk c's two nibbles at i = 4c + j.
            return block[4 * c + j];
        }
    }

    std::int64_t n_ = 0, k_ = 0;
    QuantActivations activations_ = QuantActivations::int8;
    AlignedBuffer<std::uint8_t> data_;
};

}  // namespace lamina
