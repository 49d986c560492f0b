#pragma once
// PromptLookupDrafter: drafts with no model at all by copying from the context. It takes the longest suffix of
// the context (max_ngram tokens, down to min_ngram) that also occurs earlier, and proposes the tokens that
// followed that earlier occurrence — the first one, as in Hugging Face's prompt_lookup_num_tokens (Saxena 2023).
// Summaries, code edits and chats that quote their input repeat long spans, which this drafts for free.
#include "lamina/generate/sampler.hpp"

namespace lamina {

class PromptLookupDrafter {
public:
    static constexpr bool samples = false;

    explicit PromptLookupDrafter(std::int32_t max_ngram = 3, std::int32_t min_ngram = 1)
        : max_ngram_(max_ngram), min_ngram_(min_ngram) {
        LAMINA_CHECK(1 <= min_ngram && min_ngram <= max_ngram, "PromptLookupDrafter: n-gram sizes ", min_ngram,
                     "..", max_ngram, " are not a range of positive sizes");
    }

    void start(const SamplingOptions&) {}

    std::int64_t propose(std::span<const std::int32_t> context, std::span<std::int32_t> draft, std::span<float>) const {
        const std::size_t N = context.size();
        for (std::size_t n = std::min<std::size_t>(std::size_t(max_ngram_), N > 0 ? N - 1 : 0);
             n >= std::size_t(min_ngram_); --n) {
            const auto suffix = context.last(n);
            for (std::size_t i = 0; i + n < N; ++i) {  // earlier occurrences only: i + n <= N - 1
                if (!std::equal(suffix.begin(), suffix.end(), context.begin() + std::ptrdiff_t(i))) continue;
                const std::size_t from = i + n, count = std::min(draft.size(), N - from);
                std::copy_n(context.begin() + std::ptrdiff_t(from), count, draft.begin());
                return std::int64_t(count);
            }
        }
        return 0;
    }

private:
    std::int32_t max_ngram_, min_ngram_;
};

}  // namespace lamina
