#pragma once
// How far a quantized model's outputs drift from the same model in f32, for any composed architecture: used by
// tests/models/quant_accuracy_test.cpp on a random Llama-shaped model, a PyTorch fixture and the shipped kjv-llama
// toy model on held-out text (and on any fixture-style model named by LAMINA_QUANT_ACCURACY_MODEL).
#include "lamina/models/model.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lamina::test {

struct QuantAccuracy {
    double relative_error = 0;  // max |Δlogit| / max |logit| over every position
    double top1_agreement = 0;  // share of positions whose argmax agrees
    double perplexity = 0, reference_perplexity = 0;  // of `tokens` (each next token given its prefix)
};

// Logits of every position, [tokens.size(), vocab]. Text longer than the model's context is cut into consecutive
// windows of max_positions tokens, each run from an empty cache; row t still predicts token t + 1, from the tokens of
// its window up to t.
template <class M>
std::vector<float> all_logits(const M& model, std::span<const std::int32_t> tokens, ThreadPool* pool) {
    const std::int64_t T = std::int64_t(tokens.size()), V = model.config().vocab_size;
    const std::int64_t window = std::min<std::int64_t>(T, model.config().max_positions);
    auto session = model.session(window);
    std::vector<float> logits(std::size_t(T * V));
    for (std::int64_t s = 0; s < T; s += window) {
        const std::int64_t n = std::min(window, T - s);
        session.reset();
        model.forward(session, tokens.subspan(std::size_t(s), std::size_t(n)),
                      TensorView<float>(logits.data() + s * V, {n, V}), pool);
    }
    return logits;
}

// exp(mean over t of −log p(tokens[t + 1] | logits row t)).
inline double perplexity(const std::vector<float>& logits, std::span<const std::int32_t> tokens, std::int64_t V) {
    double nll = 0;
    for (std::size_t t = 0; t + 1 < tokens.size(); ++t) {
        const float* row = logits.data() + t * std::size_t(V);
        const double m = *std::max_element(row, row + V);
        double z = 0;
        for (std::int64_t v = 0; v < V; ++v) z += std::exp(double(row[v]) - m);
        nll += m + std::log(z) - row[tokens[t + 1]];
    }
    return std::exp(nll / double(tokens.size() - 1));
}

// `quant` (the same weights in a quantized format) against `ref` (f32) on `tokens`.
template <class M>
QuantAccuracy quantization_accuracy(const M& ref, const M& quant, std::span<const std::int32_t> tokens,
                                    ThreadPool* pool) {
    const std::int64_t V = ref.config().vocab_size;
    const auto a = all_logits(ref, tokens, pool), b = all_logits(quant, tokens, pool);
    QuantAccuracy r;
    std::size_t agree = 0;
    for (std::size_t t = 0; t < tokens.size(); ++t) {
        const float* ra = a.data() + t * std::size_t(V);
        const float* rb = b.data() + t * std::size_t(V);
        agree += (std::max_element(ra, ra + V) - ra) == (std::max_element(rb, rb + V) - rb);
    }
    r.relative_error = relative_error(b, a);
    r.top1_agreement = double(agree) / double(tokens.size());
    r.perplexity = perplexity(b, tokens, V);
    r.reference_perplexity = perplexity(a, tokens, V);
    return r;
}

template <class Arch, class Source>
QuantAccuracy quantization_accuracy(const ModelConfig& config, const Source& source, WeightFormat format,
                                    std::span<const std::int32_t> tokens, ThreadPool* pool) {
    const Model<Arch> ref(config, source, WeightFormat::f32), quant(config, source, format);
    return quantization_accuracy(ref, quant, tokens, pool);
}

// Greedy continuation of `prompt` by n tokens (for "q8 greedy output identical" checks on a trained model).
template <class M>
std::vector<std::int32_t> greedy(const M& model, std::vector<std::int32_t> prompt, int n) {
    const std::int64_t V = model.config().vocab_size;
    auto session = model.session(std::int64_t(prompt.size()));
    std::vector<float> logits(static_cast<std::size_t>(V));
    std::vector<std::int32_t> out;
    std::span<const std::int32_t> next = prompt;
    std::int32_t token = 0;
    for (int i = 0; i < n; ++i) {
        model.forward(session, next, TensorView<float>(logits.data(), {1, V}));
        token = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        out.push_back(token);
        next = std::span<const std::int32_t>(&token, 1);
    }
    return out;
}

}  // namespace lamina::test
