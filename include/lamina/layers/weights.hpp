#pragma once
// How primitives declare their weights. Each primitive's Weights struct has
//     template <WeightVisitor V> void visit(V& v, const std::string& path, const ModelConfig& c);
// which names every tensor it owns once, with its shape as a function of the config. The loader, the random
// initialiser of the benchmarks and `lamina info` are all visitors, so no name is ever written twice.
//
// Tensors are named by lamina's own paths ("layers.3.attn.q"); a preset's name table maps them to a checkpoint's
// names. A TensorSource supplies data in lamina's orientation — matrices as [out, in] — converting dtype and
// transposing as its name table says.
#include "lamina/core/aligned.hpp"
#include "lamina/layers/linear.hpp"
#include "lamina/models/config.hpp"

#include <concepts>
#include <utility>
#include <span>
#include <string>
#include <vector>

namespace lamina {

template <class V>
concept WeightVisitor = requires(V& v, const std::string& s, Linear& lin, AlignedBuffer<float>& buf,
                                 std::span<const std::string> parts, std::span<const std::int64_t> rows) {
    v.linear(s, lin, std::int64_t{}, std::int64_t{}, bool{});       // s.weight [out, in] (+ s.bias [out])
    v.linear_stacked(s, parts, rows, std::int64_t{}, bool{}, lin);  // s.<part>.weight stacked along out (fused q/k/v)
    v.tensor(s, buf, rows);                                         // any other f32 tensor of the given shape
    v.linear_from(s, lin, std::as_const(buf), std::int64_t{}, std::int64_t{});  // pack a loaded table (tied head)
    { v.has(s) } -> std::convertible_to<bool>;                      // optional tensors (biases that may be absent)
};

// A TensorSource yields a tensor as f32 in lamina's orientation, or says it has none of that name.
template <class S>
concept TensorSource = requires(const S& s, const std::string& name, std::span<const std::int64_t> shape) {
    { s.read(name, shape) } -> std::same_as<std::vector<float>>;
    { s.has(name) } -> std::convertible_to<bool>;
};

// The WeightVisitor that fills weights from a TensorSource, packing matrices in the requested dtype.
template <TensorSource Source>
class WeightLoader {
public:
    WeightLoader(const Source& source, DType weight_dtype) : source_(source), dtype_(weight_dtype) {
        LAMINA_CHECK(dtype_ == DType::f32 || dtype_ == DType::bf16, "WeightLoader: weights can be packed as f32 or bf16, not ",
                     dtype_name(dtype_));
    }

    bool has(const std::string& name) const { return source_.has(name); }

    void linear(const std::string& path, Linear& dst, std::int64_t out, std::int64_t in, bool bias) {
        const std::string part;
        linear_stacked(path, std::span<const std::string>(&part, 1), std::span<const std::int64_t>(&out, 1), in, bias,
                       dst);
    }

    void linear_stacked(const std::string& path, std::span<const std::string> parts, std::span<const std::int64_t> rows,
                        std::int64_t in, bool bias, Linear& dst) {
        std::int64_t out = 0;
        for (auto r : rows) out += r;
        std::vector<float> w, b;
        if (parts.size() > 1) w.reserve(std::size_t(out * in));
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const std::string base = parts[i].empty() ? path : path + "." + parts[i];
            const std::int64_t shape[2] = {rows[i], in};
            auto part = source_.read(base + ".weight", shape);
            if (parts.size() == 1)
                w = std::move(part);  // no second copy of the largest matrices (embeddings, LM head) at load
            else
                w.insert(w.end(), part.begin(), part.end());
            if (bias) {
                const auto pb = source_.read(base + ".bias", std::span<const std::int64_t>(shape, 1));
                b.insert(b.end(), pb.begin(), pb.end());
            }
        }
        AlignedBuffer<float> bias_buf(b.size());
        std::copy(b.begin(), b.end(), bias_buf.data());
        dst = pack(TensorView<const float>(w.data(), {out, in}), std::move(bias_buf));
    }

    void linear_from(const std::string&, Linear& dst, const AlignedBuffer<float>& src, std::int64_t out, std::int64_t in) {
        LAMINA_CHECK(std::int64_t(src.size()) == out * in, "WeightLoader: tied matrix has ", src.size(),
                     " values, expected ", out, " x ", in);
        dst = pack(TensorView<const float>(src.data(), {out, in}), {});
    }

    void tensor(const std::string& name, AlignedBuffer<float>& dst, std::span<const std::int64_t> shape) {
        const auto data = source_.read(name, shape);
        dst = AlignedBuffer<float>(data.size());
        std::copy(data.begin(), data.end(), dst.data());
    }

private:
    Linear pack(TensorView<const float> w, AlignedBuffer<float> bias) const {
        if (dtype_ == DType::bf16) return Linear(PackedMatrix<bf16>(w), std::move(bias));
        return Linear(PackedMatrix<float>(w), std::move(bias));
    }

    const Source& source_;
    DType dtype_;
};

}  // namespace lamina
