#pragma once
// TensorSources (see layers/weights.hpp) that are not a Hugging Face preset:
//   SafetensorsSource — tensors stored under lamina's own paths (what `lamina quantize` and the tests write).
//   RandomSource      — deterministic pseudo-random weights, for benchmarks and examples that need no file: each
//                       tensor's values depend only on the seed and its name, norms' gains start at 1.
//   FiniteSource      — wraps any source and rejects NaN and infinite weights as they load. Opt-in (one more pass
//                       over every weight): Model<Arch>(config, FiniteSource(SafetensorsSource(path), path)).
#include "lamina/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string_view>

namespace lamina {

class SafetensorsSource {
public:
    explicit SafetensorsSource(const std::string& path) : file_(Safetensors::open(path)) {}
    bool has(const std::string& name) const { return file_.contains(name); }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        return file_.to_f32(name, shape);
    }
    const Safetensors& file() const { return file_; }

private:
    Safetensors file_;
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
