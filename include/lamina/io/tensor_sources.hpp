#pragma once
// TensorSources (see layers/weights.hpp) that are not a Hugging Face preset:
//   SafetensorsSource — tensors stored under lamina's own paths (what `lamina quantize` and the tests write),
//                       including quantized checkpoints (io/quantized_checkpoint.hpp).
//   RandomSource      — deterministic pseudo-random weights, for benchmarks and examples that need no file: each
//                       tensor's values depend only on the seed and its name, norms' gains start at 1.
//   FiniteSource      — wraps any source and rejects NaN and infinite weights as they load. Opt-in (one more pass
//                       over every weight): Model<Arch>(config, FiniteSource(SafetensorsSource(path), path)).
#include "lamina/io/quantized_checkpoint.hpp"
#include "lamina/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

namespace lamina {

class SafetensorsSource {
public:
    // Refuses a quantized checkpoint of a format or version this build does not know.
    explicit SafetensorsSource(const std::string& path) : file_(Safetensors::open(path)) {
        quantization_ = checkpoint_quantization(file_);
    }
    bool has(const std::string& name) const { return file_.contains(name); }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        return file_.to_f32(name, shape);
    }
    // The blocks of a matrix stored quantized (io/quantized_checkpoint.hpp), or nullopt.
    std::optional<QuantBlocks> read_quantized(const std::string& name, std::int64_t rows, std::int64_t cols) const {
        if (!quantization_) return std::nullopt;
        return read_quantized_blocks(file_, name, rows, cols);
    }
    std::optional<QuantFormat> quantization() const { return quantization_; }
    const Safetensors& file() const { return file_; }

private:
    Safetensors file_;
    std::optional<QuantFormat> quantization_;
};

class RandomSource {
public:
    explicit RandomSource(std::uint64_t seed = 0, float scale = 0.02f) : seed_(seed), scale_(scale) {}
    bool has(const std::string&) const { return true; }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        std::mt19937_64 rng(seed_ ^ std::hash<std::string_view>{}(name));
        std::normal_distribution<float> dist(0.f, scale_);
        const bool gain = name.ends_with("norm.weight");  // norm gains around 1, everything else around 0
        std::vector<float> v(static_cast<std::size_t>(n));
        for (auto& x : v) x = (gain ? 1.f : 0.f) + dist(rng);
        return v;
    }

private:
    std::uint64_t seed_;
    float scale_;
};

template <class Source>
class FiniteSource {
public:
    // `label` (the file, usually) starts every error message.
    explicit FiniteSource(const Source& source, std::string label = "weights")
        : source_(source), label_(std::move(label)) {}
    bool has(const std::string& name) const { return source_.has(name); }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        std::vector<float> v = source_.read(name, shape);
        const auto bad = std::find_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); });
        LAMINA_CHECK(bad == v.end(), label_, ": tensor \"", name, "\" holds ", *bad, " at index ", bad - v.begin(),
                     " of ", v.size());
        return v;
    }

private:
    const Source& source_;
    std::string label_;
};

}  // namespace lamina
