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
#include <optional>
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

// A source that may hold matrices already quantized (a checkpoint written by quantize_checkpoint): the blocks of a
// matrix [rows, cols], validated, or nullopt when that matrix is stored unquantized.
// quantization() names the checkpoint's format, if it has one.
template <class S>
concept QuantizedTensorSource = TensorSource<S> && requires(const S& s, const std::string& name) {
    { s.read_quantized(name, std::int64_t{}, std::int64_t{}) } -> std::same_as<std::optional<QuantBlocks>>;
    { s.quantization() } -> std::same_as<std::optional<QuantFormat>>;
};

// Cross-layer weight sharing: a layer's Weights with share(first) can refer to the weight set of the first layer of
// its kind (SharedFfn) instead of holding its own; a stack calls this on every later layer before visiting it.
// Weights without share() keep their own.
template <class W>
void share_weights(W& to, const W& first) {
    if constexpr (requires { to.share(first); }) to.share(first);
}

// For visitors whose linear() is linear_stacked() with one unnamed part (the loader, the checkpoint quantizer).
template <class Visitor>
struct LinearAsStack {
    void linear(const std::string& path, Linear& dst, std::int64_t out, std::int64_t in, bool bias) {
        const std::string part;
        static_cast<Visitor&>(*this).linear_stacked(path, std::span<const std::string>(&part, 1),
                                                    std::span<const std::int64_t>(&out, 1), in, bias, dst);
    }
};

// The WeightVisitor that fills weights from a TensorSource, packing matrices in the requested format. Under q8/q4,
// format_for (layers/weight_format.hpp) decides each matrix. A quantized checkpoint loads in its own format,
// whatever was requested: its matrices are taken as stored (never re-quantized), and matrices derived at load (a
// tied head) follow the checkpoint's policy.
template <TensorSource Source>
class WeightLoader : public LinearAsStack<WeightLoader<Source>> {
public:
    WeightLoader(const Source& source, WeightPolicy policy) : source_(source), policy_(policy) {
        if constexpr (QuantizedTensorSource<Source>) {
            if (const auto q = source.quantization()) {
                LAMINA_CHECK(!policy.lm_head, "weights: a quantized checkpoint keeps its own LM head format; an LM "
                                              "head format applies when quantizing at load");
                policy_ = {weight_format(*q), std::nullopt, policy.activations};
            }
        }
        policy_.validate();
    }
    WeightLoader(const Source& source, WeightFormat format) : WeightLoader(source, WeightPolicy{format}) {}
    WeightLoader(const Source& source, DType weight_dtype) : WeightLoader(source, weight_format(weight_dtype)) {
        LAMINA_CHECK(weight_dtype != DType::f16, "WeightLoader: weights can be packed as f32 or bf16, not f16");
    }

    bool has(const std::string& name) const { return source_.has(name); }

    void linear_stacked(const std::string& path, std::span<const std::string> parts, std::span<const std::int64_t> rows,
                        std::int64_t in, bool bias, Linear& dst) {
        std::int64_t out = 0;
        for (auto r : rows) out += r;
        std::vector<float> w, b;
        std::vector<QuantBlocks> stored;  // parts the source holds quantized
        if (parts.size() > 1) w.reserve(std::size_t(out * in));
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const std::string base = parts[i].empty() ? path : path + "." + parts[i];
            const std::int64_t shape[2] = {rows[i], in};
            if (auto q = read_quantized(base + ".weight", rows[i], in))
                stored.push_back(std::move(*q));
            else if (parts.size() == 1)
                w = source_.read(base + ".weight", shape);  // no second copy of the largest matrices at load
            else
                append(w, source_.read(base + ".weight", shape));
            if (bias) append(b, source_.read(base + ".bias", std::span<const std::int64_t>(shape, 1)));
        }
        LAMINA_CHECK(stored.empty() || stored.size() == parts.size(), "WeightLoader: ", path, ": ", stored.size(),
                     " of the ", parts.size(), " stacked parts are stored quantized; all or none must be");
        AlignedBuffer<float> bias_buf(b.size());
        std::copy(b.begin(), b.end(), bias_buf.data());
        if (!stored.empty()) {
            dst = packed_quantized(stack_rows(std::move(stored)), std::move(bias_buf));
            return;
        }
        dst = pack(path, TensorView<const float>(w.data(), {out, in}), std::move(bias_buf));
    }

    void linear_from(const std::string& path, Linear& dst, const AlignedBuffer<float>& src, std::int64_t out,
                     std::int64_t in) {
        LAMINA_CHECK(std::int64_t(src.size()) == out * in, "WeightLoader: tied matrix has ", src.size(),
                     " values, expected ", out, " x ", in);
        dst = pack(path, TensorView<const float>(src.data(), {out, in}), {});
    }

    void tensor(const std::string& name, AlignedBuffer<float>& dst, std::span<const std::int64_t> shape) {
        const auto data = source_.read(name, shape);
        dst = AlignedBuffer<float>(data.size());
        std::copy(data.begin(), data.end(), dst.data());
    }

private:
    static void append(std::vector<float>& to, const std::vector<float>& part) { to.insert(to.end(), part.begin(), part.end()); }

    std::optional<QuantBlocks> read_quantized(const std::string& name, std::int64_t rows, std::int64_t cols) const {
        if constexpr (QuantizedTensorSource<Source>)
            return source_.read_quantized(name, rows, cols);
        else
            return std::nullopt;
    }

    Linear packed_quantized(const QuantBlocks& q, AlignedBuffer<float> bias) const {
        if (q.format == QuantFormat::q8)
            return Linear(QuantMatrix<QuantFormat::q8>(q, policy_.activations), std::move(bias));
        return Linear(QuantMatrix<QuantFormat::q4>(q), std::move(bias));
    }

    Linear pack(const std::string& path, TensorView<const float> w, AlignedBuffer<float> bias) const {
        const WeightFormat f = format_for(policy_, path, w.rows(), w.cols());
        if (const auto q = quant_format(f)) return packed_quantized(quantize(w, *q), std::move(bias));
        if (f == WeightFormat::bf16) return Linear(PackedMatrix<bf16>(w), std::move(bias));
        return Linear(PackedMatrix<float>(w), std::move(bias));
    }

    const Source& source_;
    WeightPolicy policy_;
};

}  // namespace lamina
