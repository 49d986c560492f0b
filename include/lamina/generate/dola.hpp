#pragma once
// DoLa-style contrastive decoding across layers (Chuang et al. 2023, "DoLa: Decoding by Contrasting Layers"; Hugging
// Face transformers' _relative_top_filter and _dola_select_contrast): facts emerge in the late layers, so the
// next-token scores are the final layer's log-probabilities minus an earlier ("premature") layer's, both through the
// LM head (Model::forward_with_lens). Only plausible tokens compete: a token whose final probability is below
// α · (top probability) is filtered out (-inf), which keeps the contrast from promoting tokens both layers find
// unlikely. This is the static-layer variant: the caller picks the early layer.
#include "lamina/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

namespace lamina {

namespace detail {
inline float log_sum_exp(std::span<const float> x) {
    const float m = *std::ranges::max_element(x);
    double sum = 0;
    for (float v : x) sum += std::exp(double(v - m));
    return m + float(std::log(sum));
}
}  // namespace detail

// logits: the final layer's logits, replaced by the contrast scores; early: the early layer's logits (read only,
// the same length). alpha: the relative plausibility cut-off (HF's relative_top, 0.1 by default).
inline void dola_contrast(std::span<float> logits, std::span<const float> early, float alpha = 0.1f) {
    LAMINA_CHECK(early.size() == logits.size() && !logits.empty(), "dola_contrast: ", early.size(),
                 " early logits for ", logits.size(), " final ones");
    LAMINA_CHECK(alpha > 0.f && alpha <= 1.f, "dola_contrast: alpha ", alpha, " is outside (0, 1]");
    const float final_z = detail::log_sum_exp(logits), early_z = detail::log_sum_exp(early);
    // log p >= log(α · max p); the top token always passes.
    const float threshold = *std::ranges::max_element(logits) - final_z + std::log(alpha);
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const float log_p = logits[i] - final_z;
        logits[i] = log_p < threshold ? -std::numeric_limits<float>::infinity() : log_p - (early[i] - early_z);
    }
}

// The same as a logit processor (the apply(logits, history, scratch) shape of generate/logit_processors.hpp):
// `early` views a buffer that holds this step's early-layer logits when the pipeline runs. Generator fills it
// (GenerationOptions::dola) and puts the contrast first, before penalties and warpers, as Hugging Face does.
struct DolaContrast {
    float alpha = 0.1f;
    std::span<const float> early;
    template <class Scratch>
    void apply(std::span<float> logits, std::span<const std::int32_t>, Scratch&) const {
        dola_contrast(logits, early, alpha);
    }
};

// DoLa in a Generator: contrast the final layer with the logit lens after `layers` layers (schedule steps).
struct DolaOptions {
    int layers = 1;
    float alpha = 0.1f;
};

}  // namespace lamina
