#pragma once
// WeightFormat: how a model's matrices are stored after load — f32 or bf16 panels, or q8/q4 blocks — and the
// quantization policy, the one place that decides which matrices a quantized format applies to. The loader
// (layers/weights.hpp) and the checkpoint quantizer (io/quantized_checkpoint.hpp) both ask it, so a model quantized
// at load and one loaded from a quantized checkpoint hold the same matrices.
//
// Policy for q8 / q4:
//   - Linear weights with in_features ≥ kMinQuantizedInputs and out_features ≥ kMinQuantizedOutputs: the format;
//   - the LM head ("lm_head", tied or not): q8 also under q4 — the logits are the product most sensitive to weight
//     error (llama.cpp keeps output.weight at 6+ bits for the same reason) and one matrix costs little;
//   - smaller matrices (MoE routers, Mamba's dt_proj): f32 — a negligible share of the bytes, and they make discrete
//     choices (which experts run) that rounding should not flip;
//   - every tensor that is not a Linear weight — norm gains, biases, embedding and position tables, convolution and
//     SSM parameters: f32 (embeddings are gathered one row per token, so their bytes do not limit decode).
#include "lamina/core/dtype.hpp"
#include "lamina/kernels/quant/formats.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace lamina {

enum class WeightFormat : std::uint8_t { f32, bf16, q8, q4 };

constexpr std::string_view weight_format_name(WeightFormat f) {
    switch (f) {
        case WeightFormat::f32: return "f32";
        case WeightFormat::bf16: return "bf16";
        case WeightFormat::q8: return "q8";
        case WeightFormat::q4: return "q4";
    }
    return "?";
}

// "f32" | "bf16" | "q8" | "q4" (what `--dtype` / `--quantize` accept) or nullopt.
inline std::optional<WeightFormat> parse_weight_format(std::string_view s) {
    for (const WeightFormat f : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::q8, WeightFormat::q4})
        if (s == weight_format_name(f)) return f;
    return std::nullopt;
}

constexpr WeightFormat weight_format(DType t) { return t == DType::bf16 ? WeightFormat::bf16 : WeightFormat::f32; }
constexpr WeightFormat weight_format(QuantFormat q) { return q == QuantFormat::q8 ? WeightFormat::q8 : WeightFormat::q4; }
constexpr std::optional<QuantFormat> quant_format(WeightFormat f) {
    if (f == WeightFormat::q8) return QuantFormat::q8;
    if (f == WeightFormat::q4) return QuantFormat::q4;
    return std::nullopt;
}

inline constexpr std::int64_t kMinQuantizedInputs = 64;   // two blocks
inline constexpr std::int64_t kMinQuantizedOutputs = 16;  // one kernel row group

// The block format for the Linear at `path` ([out, in]) under `requested`, or nullopt to keep it unquantized.
inline std::optional<QuantFormat> quantization_for(WeightFormat requested, const std::string& path, std::int64_t out,
                                                   std::int64_t in) {
    const auto q = quant_format(requested);
    if (!q || in < kMinQuantizedInputs || out < kMinQuantizedOutputs) return std::nullopt;
    if (path == "lm_head") return QuantFormat::q8;
    return q;
}

}  // namespace lamina
