#pragma once
// WeightFormat: how a model's matrices are stored after load — f32 or bf16 panels, or q8/q4 blocks — and the
// quantization policy, the one place that decides which matrices a quantized format applies to. The loader
// (layers/weights.hpp) and the checkpoint quantizer (io/quantized_checkpoint.hpp) both ask it, so a model quantized
// at load and one loaded from a quantized checkpoint hold the same matrices.
//
// Policy for q8 / q4:
//   - Linear weights with in_features ≥ kMinQuantizedInputs and out_features ≥ kMinQuantizedOutputs: the format;
//   - the LM head ("lm_head", tied or not): q8 also under q4 — the logits are the product most sensitive to weight
//     error (llama.cpp keeps output.weight at 6+ bits for the same reason) and one matrix costs little. A
//     WeightPolicy may name another format for it (bf16 under q8 keeps a trained model's logits within 1% of f32
//     where a q8 head does not, README) at the price of its bytes;
//   - the activations of q8 products: int8 blocks unless the policy asks for int16 (two planes: q8 logits move about
//     as much as the weights' own rounding, for slower prefill; kernels/quant/quant_gemm.hpp);
//   - smaller matrices (MoE routers, Mamba's dt_proj): f32 — a negligible share of the bytes, and they make discrete
//     choices (which experts run) that rounding should not flip;
//   - every tensor that is not a Linear weight — norm gains, biases, embedding and position tables, convolution and
//     SSM parameters: f32 (embeddings are gathered one row per token, so their bytes do not limit decode).
#include "lamina/core/dtype.hpp"
#include "lamina/core/error.hpp"
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

// What a load asks for: a format for the model's matrices and, under q8 / q4, optionally one for the LM head and
// the precision of the activations that meet q8 weights (the LM head's, under q4).
struct WeightPolicy {
    WeightFormat format = WeightFormat::f32;
    std::optional<WeightFormat> lm_head{};
    QuantActivations activations = QuantActivations::int8;

    void validate() const {
        LAMINA_CHECK(!lm_head || quant_format(format), "weights: an LM head format (", weight_format_name(*lm_head),
                     ") applies under q8 or q4, not under ", weight_format_name(format));
        LAMINA_CHECK(activations == QuantActivations::int8 || quant_format(format), "weights: ",
                     quant_activations_name(activations), " activations apply under q8 or q4, not under ",
                     weight_format_name(format));
    }
};

// The format the Linear at `path` ([out, in]) is held in under `policy`: the policy above.
inline WeightFormat format_for(const WeightPolicy& policy, const std::string& path, std::int64_t out, std::int64_t in) {
    const auto q = quant_format(policy.format);
    if (!q) return policy.format;
    if (in < kMinQuantizedInputs || out < kMinQuantizedOutputs) return WeightFormat::f32;
    if (path == "lm_head") return policy.lm_head.value_or(WeightFormat::q8);
    return policy.format;
}

// The block format of that Linear, or nullopt when it is held as f32 or bf16 panels.
inline std::optional<QuantFormat> quantization_for(const WeightPolicy& policy, const std::string& path,
                                                   std::int64_t out, std::int64_t in) {
    return quant_format(format_for(policy, path, out, in));
}

}  // namespace lamina
