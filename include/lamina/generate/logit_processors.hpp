#pragma once
// Logit processors: each rewrites one step's logits in place, given the tokens of the sequence so far. A
// LogitPipeline applies a list of them in order (a switch over a closed variant per step, no virtual call), with
// scratch sized once for the vocabulary so a step allocates nothing. Semantics follow Hugging Face's logits
// processors and warpers (transformers/generation/logits_process.py); presence and frequency penalties follow the
// OpenAI API. Filtered tokens get -inf.
#include "lamina/core/error.hpp"
#include "lamina/generate/dola.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <variant>
#include <vector>

namespace lamina {

// Per-vocabulary scratch shared by the processors of one pipeline: zero-filled counts and a sort buffer.
struct ProcessorScratch {
    std::vector<std::int32_t> counts;
    std::vector<std::pair<float, std::int32_t>> order;
    explicit ProcessorScratch(std::int32_t vocab = 0) : counts(std::size_t(vocab)), order(std::size_t(vocab)) {}
};

template <class P>
concept LogitProcessor = requires(const P& p, std::span<float> logits, std::span<const std::int32_t> history,
                                  ProcessorScratch& scratch) { p.apply(logits, history, scratch); };

namespace detail {
inline constexpr float kFiltered = -std::numeric_limits<float>::infinity();

// Calls fn(id, count) once for every distinct id of history, with its number of occurrences; leaves the counts
// zeroed again.
template <class Fn>
void for_each_count(std::span<const std::int32_t> history, std::span<const float> logits, ProcessorScratch& scratch,
                    Fn&& fn) {
    for (const auto id : history) {
        LAMINA_CHECK(id >= 0 && std::size_t(id) < logits.size(), "logit processor: token id ", id,
                     " in the history is outside the vocabulary of ", logits.size());
        ++scratch.counts[std::size_t(id)];
    }
    for (const auto id : history)
        if (const auto n = std::exchange(scratch.counts[std::size_t(id)], 0)) fn(id, n);
}
}  // namespace detail

// Divides the logits by t: t < 1 sharpens the distribution, t > 1 flattens it.
struct Temperature {
    float t = 1.f;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch&) const {
        const float inv = 1.f / t;
        for (auto& x : logits) x *= inv;
    }
};

// Keeps the k highest logits; ties with the k-th are kept, as in HF's TopKLogitsWarper (scores < k-th value).
struct TopK {
    std::int32_t k = 0;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch& scratch) const {
        if (std::size_t(k) >= logits.size()) return;
        auto& values = scratch.order;
        for (std::size_t i = 0; i < logits.size(); ++i) values[i] = {logits[i], std::int32_t(i)};
        std::nth_element(values.begin(), values.begin() + (k - 1), values.begin() + std::ptrdiff_t(logits.size()),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        const float kth = values[std::size_t(k - 1)].first;
        for (auto& x : logits)
            if (x < kth) x = detail::kFiltered;
    }
};

// Keeps the smallest set of most probable tokens whose probability reaches p (nucleus sampling). HF's
// TopPLogitsWarper removes a token when the probability mass of the tokens at most as likely is <= 1 - p, which is
// the same as: the mass of the strictly more likely tokens before it (in descending order) is >= p. The most
// likely token always stays.
struct TopP {
    float p = 1.f;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch& scratch) const {
        if (p >= 1.f) return;
        const std::size_t V = logits.size();
        auto order = std::span(scratch.order).first(V);
        for (std::size_t i = 0; i < V; ++i) order[i] = {logits[i], std::int32_t(i)};
        std::sort(order.begin(), order.end(),
                  [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
        const float top = order[0].first;
        double total = 0;
        for (const auto& [x, id] : order) total += std::exp(double(x - top));
        double before = 0;
        for (std::size_t r = 0; r < V; ++r) {
            if (r > 0 && before >= p * total) logits[std::size_t(order[r].second)] = detail::kFiltered;
            before += std::exp(double(order[r].first - top));
        }
    }
};

// Drops tokens less probable than min_p times the most probable one (HF's MinPLogitsWarper).
struct MinP {
    float p = 0.f;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch&) const {
        if (p <= 0.f) return;
        const float top = *std::max_element(logits.begin(), logits.end());
        for (auto& x : logits)
            if (std::exp(double(x - top)) < double(p)) x = detail::kFiltered;
    }
};

// CTRL's repetition penalty as HF applies it: every token already in the sequence has a positive logit divided
// by the penalty and a negative one multiplied by it (once, however often it occurred).
struct RepetitionPenalty {
    float penalty = 1.f;
    void apply(std::span<float> logits, std::span<const std::int32_t> history, ProcessorScratch& scratch) const {
        detail::for_each_count(history, logits, scratch, [&](std::int32_t id, std::int32_t) {
            float& x = logits[std::size_t(id)];
            x = x < 0 ? x * penalty : x / penalty;
        });
    }
};

// OpenAI's penalties: logit -= presence * [count > 0] + frequency * count, over the sequence so far.
struct PresenceFrequencyPenalty {
    float presence = 0.f, frequency = 0.f;
    void apply(std::span<float> logits, std::span<const std::int32_t> history, ProcessorScratch& scratch) const {
        detail::for_each_count(history, logits, scratch, [&](std::int32_t id, std::int32_t count) {
            logits[std::size_t(id)] -= presence + frequency * float(count);
        });
    }
};

// Adds a fixed bias to chosen tokens' logits.
struct LogitBias {
    std::vector<std::pair<std::int32_t, float>> bias;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch&) const {
        for (const auto& [id, b] : bias) logits[std::size_t(id)] += b;
    }
};

// Tokens that are never generated.
struct BannedTokens {
    std::vector<std::int32_t> ids;
    void apply(std::span<float> logits, std::span<const std::int32_t>, ProcessorScratch&) const {
        for (const auto id : ids) logits[std::size_t(id)] = detail::kFiltered;
    }
};

using AnyLogitProcessor = std::variant<DolaContrast, RepetitionPenalty, PresenceFrequencyPenalty, LogitBias,
                                       BannedTokens, Temperature, TopK, TopP, MinP>;

// The processors of a generation, applied in the order they were added.
class LogitPipeline {
public:
    explicit LogitPipeline(std::int32_t vocab) : vocab_(vocab), scratch_(vocab) {}

    template <class P>
        requires LogitProcessor<P> && std::is_constructible_v<AnyLogitProcessor, P>
    LogitPipeline& add(P p) {
        check(p);
        steps_.emplace_back(std::move(p));
        return *this;
    }

    void apply(std::span<float> logits, std::span<const std::int32_t> history) {
        LAMINA_CHECK(std::int64_t(logits.size()) == vocab_, "LogitPipeline: ", logits.size(),
                     " logits for a vocabulary of ", vocab_);
        for (const auto& step : steps_) std::visit([&](const auto& p) { p.apply(logits, history, scratch_); }, step);
    }

    bool empty() const { return steps_.empty(); }
    std::int32_t vocab() const { return vocab_; }

private:
    void check(const Temperature& p) const { LAMINA_CHECK(p.t > 0, "Temperature: must be positive, got ", p.t); }
    void check(const TopK& p) const { LAMINA_CHECK(p.k > 0, "TopK: k must be positive, got ", p.k); }
    void check(const TopP& p) const { LAMINA_CHECK(p.p > 0 && p.p <= 1, "TopP: p must be in (0, 1], got ", p.p); }
    void check(const MinP& p) const { LAMINA_CHECK(p.p >= 0 && p.p <= 1, "MinP: p must be in [0, 1], got ", p.p); }
    void check(const RepetitionPenalty& p) const {
        LAMINA_CHECK(p.penalty > 0, "RepetitionPenalty: must be positive, got ", p.penalty);
    }
    void check(const PresenceFrequencyPenalty&) const {}
    void check(const DolaContrast& p) const {
        LAMINA_CHECK(p.alpha > 0.f && p.alpha <= 1.f, "DolaContrast: alpha ", p.alpha, " is outside (0, 1]");
        LAMINA_CHECK(std::int64_t(p.early.size()) == vocab_, "DolaContrast: ", p.early.size(),
                     " early logits for a vocabulary of ", vocab_);
    }
    void check(const LogitBias& p) const {
        for (const auto& [id, b] : p.bias) check_id("LogitBias", id);
    }
    void check(const BannedTokens& p) const {
        for (const auto id : p.ids) check_id("BannedTokens", id);
    }
    void check_id(const char* what, std::int32_t id) const {
        LAMINA_CHECK(id >= 0 && id < vocab_, what, ": token id ", id, " is outside the vocabulary of ", vocab_);
    }

    std::int32_t vocab_;
    ProcessorScratch scratch_;
    std::vector<AnyLogitProcessor> steps_;
};

}  // namespace lamina
