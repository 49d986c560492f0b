#pragma once
// LayerSchedule: the order in which one sequence runs the model's layers — training-free dynamic depth. A step
// runs one layer, or only its token mixer or only its FFN; a layer may be left out (layer skipping, the draft of
// self-speculative decoding) or appear more than once (layer repetition). The schedule is fixed for a sequence
// from its first token, so every cache is written by the same steps at every position: a repeated layer gets its
// own state per occurrence, a skipped layer's state is never touched.
#include "lamina/core/error.hpp"

#include <span>
#include <vector>

namespace lamina {

// Stacks (Pattern: Stack::run, add_schedule_states) and architectures (DecoderOnly: forward_steps, lens) that run
// layer schedules, early exit and the logit lens say so with `static constexpr bool runs_layer_schedules = true`.
template <class S>
concept RunsLayerSchedules = requires { requires S::runs_layer_schedules; };

struct LayerStep {
    int layer = 0;
    bool mixer = true, ffn = true;  // which sublayers run (Sublayers)
    int occurrence = 0;             // set by LayerSchedule: earlier steps of the same layer
};

class LayerSchedule {
public:
    LayerSchedule() = default;
    explicit LayerSchedule(std::vector<LayerStep> steps) : steps_(std::move(steps)) {
        for (std::size_t i = 0; i < steps_.size(); ++i) {
            steps_[i].occurrence = 0;
            for (std::size_t j = 0; j < i; ++j) steps_[i].occurrence += steps_[j].layer == steps_[i].layer;
        }
    }
    // Every layer once, in order, except those listed.
    static LayerSchedule skipping(int n_layers, std::span<const int> skipped) {
        std::vector<LayerStep> steps;
        for (int i = 0; i < n_layers; ++i)
            if (std::ranges::find(skipped, i) == skipped.end()) steps.push_back({i});
        return LayerSchedule(std::move(steps));
    }
    // Every layer once, with layers [first, last] run `times` times in a row (as a block).
    static LayerSchedule repeating(int n_layers, int first, int last, int times) {
        LAMINA_CHECK(0 <= first && first <= last && last < n_layers && times >= 1, "LayerSchedule::repeating: layers ",
                     first, "..", last, " x", times, " do not fit ", n_layers, " layers");
        std::vector<LayerStep> steps;
        steps.reserve(std::size_t(n_layers) + std::size_t(last - first + 1) * std::size_t(times - 1));
        for (int i = 0; i < first; ++i) steps.push_back({i});
        for (int r = 0; r < times; ++r)
            for (int i = first; i <= last; ++i) steps.push_back({i});
        for (int i = last + 1; i < n_layers; ++i) steps.push_back({i});
        return LayerSchedule(std::move(steps));
    }

    std::span<const LayerStep> steps() const { return steps_; }
    bool empty() const { return steps_.empty(); }

    void validate(int n_layers) const {
        LAMINA_CHECK(!steps_.empty(), "LayerSchedule: no steps");
        for (const LayerStep& s : steps_)
            LAMINA_CHECK(s.layer >= 0 && s.layer < n_layers, "LayerSchedule: layer ", s.layer, " is outside 0..",
                         n_layers - 1);
    }

private:
    std::vector<LayerStep> steps_;
};

}  // namespace lamina
