#pragma once
// Linear: y = act(x·Wᵀ + b) with W packed once at load, in the storage format chosen at load time (f32 or bf16
// panels, q8 or q4 blocks). The format is a runtime choice (one build serves `--dtype f32|bf16`, `--quantize
// q8|q4`), so the packed matrix is a variant; the visit costs one branch per matrix product, not per element.
#include "lamina/kernels/gemm.hpp"
#include "lamina/kernels/quant/quant_gemm.hpp"
#include "lamina/layers/weight_format.hpp"

#include <variant>

namespace lamina {

class Linear {
public:
    using Packed = std::variant<PackedMatrix<float>, PackedMatrix<bf16>, QuantMatrix<QuantFormat::q8>,
                                QuantMatrix<QuantFormat::q4>>;

    Linear() = default;
    Linear(Packed w, AlignedBuffer<float> bias = {}) : w_(std::move(w)), bias_(std::move(bias)) {
        LAMINA_CHECK(bias_.size() == 0 || std::int64_t(bias_.size()) == out_features(), "Linear: bias has ",
                     bias_.size(), " values for ", out_features(), " outputs");
    }

    std::int64_t out_features() const { return std::visit([](const auto& w) { return w.rows(); }, w_); }
    std::int64_t in_features() const { return std::visit([](const auto& w) { return w.cols(); }, w_); }
    WeightFormat format() const {
        constexpr WeightFormat formats[] = {WeightFormat::f32, WeightFormat::bf16, WeightFormat::q8, WeightFormat::q4};
        return formats[w_.index()];
    }
    std::size_t bytes() const {
        return std::visit([](const auto& w) { return w.bytes(); }, w_) + bias_.size() * sizeof(float);
    }
    bool has_bias() const { return bias_.size() != 0; }

    // y = act(x·Wᵀ + b), or y += x·Wᵀ + b with `accumulate` (a residual connection).
    void forward(TensorView<const float> x, TensorView<float> y, ThreadPool* pool,
                 Activation act = Activation::identity, bool accumulate = false) const {
        const Epilogue ep{has_bias() ? bias_.data() : nullptr, act, accumulate};
        std::visit([&](const auto& w) { kernels::gemm(x, w, y, ep, pool); }, w_);
    }

private:
    Packed w_;
    AlignedBuffer<float> bias_;
};

}  // namespace lamina
