#pragma once
// TokenSampler: turns one step's logits into the next token. SamplingOptions name the usual knobs; the sampler
// builds the logit pipeline from them in Hugging Face's order (penalties, bias and bans on the raw logits, then
// temperature, top-k, top-p, min-p) and draws from the result with a seeded Rng by inverse CDF in token-id order,
// so a seed reproduces a run exactly. Temperature 0 is greedy: the argmax after the penalties.
#include "lamina/generate/logit_processors.hpp"
#include "lamina/generate/rng.hpp"

#include <optional>

namespace lamina {

struct SamplingOptions {
    float temperature = 0.f;  // 0: greedy
    std::int32_t top_k = 0;   // 0: off
    float top_p = 1.f;        // 1: off
    float min_p = 0.f;        // 0: off
    float repetition_penalty = 1.f;
    float presence_penalty = 0.f, frequency_penalty = 0.f;
    std::vector<std::pair<std::int32_t, float>> logit_bias;
    std::vector<std::int32_t> banned_tokens;
    std::uint64_t seed = 0;
};

// `contrast`: DoLa's layer contrast (generate/dola.hpp), which replaces the raw logits before anything else.
inline LogitPipeline make_pipeline(const SamplingOptions& o, std::int32_t vocab,
                                   const std::optional<DolaContrast>& contrast = {}) {
    LAMINA_CHECK(o.temperature >= 0, "SamplingOptions: temperature must be >= 0, got ", o.temperature);
    LAMINA_CHECK(o.top_k >= 0, "SamplingOptions: top_k must be >= 0, got ", o.top_k);
    LAMINA_CHECK(o.top_p > 0 && o.top_p <= 1, "SamplingOptions: top_p must be in (0, 1], got ", o.top_p);
    LAMINA_CHECK(o.min_p >= 0 && o.min_p <= 1, "SamplingOptions: min_p must be in [0, 1], got ", o.min_p);
    LogitPipeline p(vocab);
    if (contrast) p.add(*contrast);
    if (o.repetition_penalty != 1.f) p.add(RepetitionPenalty{o.repetition_penalty});
    if (o.presence_penalty != 0.f || o.frequency_penalty != 0.f)
        p.add(PresenceFrequencyPenalty{o.presence_penalty, o.frequency_penalty});
    if (!o.logit_bias.empty()) p.add(LogitBias{o.logit_bias});
    if (!o.banned_tokens.empty()) p.add(BannedTokens{o.banned_tokens});
    if (o.temperature > 0) {  // the warpers shape a distribution; greedy decoding has none
        if (o.temperature != 1.f) p.add(Temperature{o.temperature});
        if (o.top_k > 0) p.add(TopK{o.top_k});
        if (o.top_p < 1.f) p.add(TopP{o.top_p});
        if (o.min_p > 0.f) p.add(MinP{o.min_p});
    }
    return p;
}

namespace detail {
inline std::int32_t argmax(std::span<const float> x) {
    return std::int32_t(std::max_element(x.begin(), x.end()) - x.begin());  // first of equal maxima
}
}  // namespace detail

class TokenSampler {
public:
    TokenSampler(const SamplingOptions& o, std::int32_t vocab, const std::optional<DolaContrast>& contrast = {})
        : pipeline_(make_pipeline(o, vocab, contrast)), rng_(o.seed), greedy_(o.temperature == 0) {}

    bool greedy() const { return greedy_; }
    std::int32_t vocab() const { return pipeline_.vocab(); }
    Rng& rng() { return rng_; }

    // The next token after `history`, from its raw logits (rewritten in place).
    std::int32_t sample(std::span<float> logits, std::span<const std::int32_t> history) {
        pipeline_.apply(logits, history);
        if (greedy_) return detail::argmax(logits);
        to_probabilities(logits);
        return draw(logits);
    }

    // The distribution sample() draws from, written over the logits: softmax of the processed logits, or one-hot
    // at the argmax when greedy (speculative decoding compares these).
    void distribution(std::span<float> logits, std::span<const std::int32_t> history) {
        pipeline_.apply(logits, history);
        if (greedy_) {
            const auto best = std::size_t(detail::argmax(logits));
            std::fill(logits.begin(), logits.end(), 0.f);
            logits[best] = 1.f;
        } else {
            to_probabilities(logits);
        }
    }

    // Inverse CDF: the first token whose cumulative weight (double, in id order) exceeds u * total. Weights need
    // not be normalised.
    std::int32_t draw(std::span<const float> weights) {
        double total = 0;
        for (const float w : weights) total += w;
        LAMINA_CHECK(total > 0, "TokenSampler: every token has zero probability");
        const double target = rng_.uniform() * total;
        double cumulative = 0;
        std::int32_t last = 0;
        for (std::size_t i = 0; i < weights.size(); ++i) {
            if (weights[i] <= 0) continue;
            cumulative += weights[i];
            last = std::int32_t(i);
            if (cumulative > target) break;
        }
        return last;  // the last positive weight also absorbs rounding at the top end
    }

private:
    static void to_probabilities(std::span<float> x) {
        const float top = *std::max_element(x.begin(), x.end());
        double total = 0;
        for (auto& v : x) total += (v = std::exp(v - top));
        const float inv = float(1 / total);
        for (auto& v : x) v *= inv;
    }

    LogitPipeline pipeline_;
    Rng rng_;
    bool greedy_;
};

}  // namespace lamina
