#pragma once
// WeightList: the WeightVisitor that only records what a model's Weights declare — each tensor's lamina path and
// shape — without reading or packing anything. `lamina info` lists and counts parameters with it; a quantizer can
// plan with it. Optional tensors (biases) are asked about through the `has` callable, as a loader would.
#include "lamina/layers/weights.hpp"

#include <functional>
#include <string>
#include <vector>

namespace lamina {

struct DeclaredTensor {
    std::string name;
    std::vector<std::int64_t> shape;
    bool tied = false;  // shares another tensor's values (a tied LM head): not a parameter of its own
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

class WeightList {
public:
    explicit WeightList(std::function<bool(const std::string&)> has = [](const std::string&) { return false; })
        : has_(std::move(has)) {}

    bool has(const std::string& name) const { return has_(name); }
    void linear(const std::string& path, Linear&, std::int64_t out, std::int64_t in, bool bias) {
        add(path + ".weight", {out, in});
        if (bias) add(path + ".bias", {out});
    }
    void linear_stacked(const std::string& path, std::span<const std::string> parts, std::span<const std::int64_t> rows,
                        std::int64_t in, bool bias, Linear& dst) {
        for (std::size_t i = 0; i < parts.size(); ++i)
            linear(parts[i].empty() ? path : path + "." + parts[i], dst, rows[i], in, bias);
    }
    void tensor(const std::string& name, AlignedBuffer<float>&, std::span<const std::int64_t> shape) {
        add(name, {shape.begin(), shape.end()});
    }
    void linear_from(const std::string& path, Linear&, const AlignedBuffer<float>&, std::int64_t out, std::int64_t in) {
        tensors_.push_back({path + ".weight", {out, in}, true});
    }

    const std::vector<DeclaredTensor>& tensors() const { return tensors_; }
    std::int64_t parameters() const {
        std::int64_t n = 0;
        for (const auto& t : tensors_) n += t.tied ? 0 : t.numel();
        return n;
    }

private:
    void add(std::string name, std::vector<std::int64_t> shape) { tensors_.push_back({std::move(name), std::move(shape)}); }
    std::function<bool(const std::string&)> has_;
    std::vector<DeclaredTensor> tensors_;
};

}  // namespace lamina
