#pragma once
// Speculative decoding, lossless: a Drafter proposes k tokens, the target model scores the last accepted token
// and all k drafts in one forward pass (k + 1 rows of logits, weights read once), and the session is rolled back
// past the first rejected draft. Acceptance is the rejection sampling of Leviathan et al. 2023 / Chen et al. 2023:
// draft d with draft probability q(d) is kept with probability min(1, p(d) / q(d)); on rejection the token is
// drawn from max(p − q, 0) renormalised; if every draft is kept, one more token comes from the last row. The
// output is distributed exactly as the target's sampling. Greedy decoding is the same rule with one-hot p (and q):
// a draft is kept iff it is the target's argmax, so the output is token for token plain greedy decoding.
#include "lamina/generate/drafter.hpp"
#include "lamina/generate/generator.hpp"

namespace lamina {

struct SpeculativeStats {
    std::int64_t rounds = 0, drafted = 0, accepted = 0;
    double acceptance_rate() const { return drafted ? double(accepted) / double(drafted) : 0.0; }
    double tokens_per_round() const { return rounds ? double(accepted + rounds) / double(rounds) : 0.0; }
};

template <RollbackModel M, Drafter D>
class SpeculativeGenerator {
public:
    SpeculativeGenerator(const M& target, D& drafter, std::int64_t draft_tokens, ThreadPool* pool = nullptr,
                         const Tokenizer* tokenizer = nullptr)
        : model_(&target), drafter_(&drafter), pool_(pool), tokenizer_(tokenizer), k_(draft_tokens),
          session_(target.session(std::max<std::int64_t>(draft_tokens + 1, 64))) {
        LAMINA_CHECK(draft_tokens >= 1, "SpeculativeGenerator: draft_tokens must be >= 1, got ", draft_tokens);
        const auto V = std::size_t(target.config().vocab_size);
        logits_.resize(std::size_t(k_ + 1) * V);
        draft_probs_.resize(D::samples ? std::size_t(k_) * V : 0);
        draft_.resize(std::size_t(k_));
        input_.reserve(std::size_t(k_ + 1));
        tokens_.reserve(std::size_t(target.config().max_positions));
    }

    template <TokenCallback OnToken = NoCallback>
    GenerationResult generate(std::span<const std::int32_t> prompt, const GenerationOptions& o, OnToken&& on_token = {}) {
        LAMINA_CHECK(!prompt.empty(), "SpeculativeGenerator: empty prompt");
        const std::int64_t V = model_->config().vocab_size, context = model_->config().max_positions;
        LAMINA_CHECK(std::int64_t(prompt.size()) < context, "SpeculativeGenerator: a prompt of ", prompt.size(),
                     " tokens leaves no room in the context of ", context);
        LAMINA_CHECK(!o.dola, "SpeculativeGenerator: DoLa changes the target's distribution; use Generator");
        TokenSampler sampler(o.sampling, std::int32_t(V));
        StopChecker stop(o.stop, tokenizer_);
        drafter_->start(o.sampling);
        stats_ = {};
        session_.reset();
        tokens_.assign(prompt.begin(), prompt.end());
        GenerationResult r;
        r.tokens.reserve(std::size_t(std::min(o.stop.max_new_tokens, context)));
        if (stop.exhausted()) return r;
        // The last token is always fed together with the next drafts, so the prefill stops one short of it.
        if (prompt.size() > 1)
            model_->forward(session_, prompt.first(prompt.size() - 1), TensorView<float>(logits_.data(), {1, V}), pool_);

        const auto emit = [&](std::int32_t id) {
            tokens_.push_back(id);
            r.tokens.push_back(id);
            auto why = stop.push(id, on_token);
            if (!why && std::int64_t(tokens_.size()) >= context) why = StopReason::context_full;
            if (why) r.reason = *why;
            return why.has_value();
        };
        for (;;) {
            const std::int64_t N = std::int64_t(tokens_.size());
            // Drafts beyond the token budget or the context would be wasted: this round yields at most k + 1.
            const std::int64_t room = std::min({k_, context - N, o.stop.max_new_tokens - stop.generated() - 1});
            const std::int64_t k =
                room > 0 ? drafter_->propose(tokens_, std::span(draft_).first(std::size_t(room)), draft_probs_) : 0;
            input_.assign(1, tokens_.back());
            input_.insert(input_.end(), draft_.begin(), draft_.begin() + k);
            model_->forward(session_, input_, TensorView<float>(logits_.data(), {k + 1, V}), pool_);
            ++stats_.rounds;
            stats_.drafted += k;

            std::int64_t i = 0;
            for (; i < k; ++i) {
                const auto p = std::span(logits_).subspan(std::size_t(i * V), std::size_t(V));
                sampler.distribution(p, tokens_);
                const std::int32_t d = draft_[std::size_t(i)];
                const float q = D::samples ? draft_probs_[std::size_t(i * V + d)] : 1.f;
                if (!(sampler.rng().uniform() * q < p[std::size_t(d)])) {  // rejected: draw from max(p − q, 0)
                    residual(p, i, d);
                    break;
                }
                ++stats_.accepted;
                if (emit(d)) return r;
            }
            const auto last = std::span(logits_).subspan(std::size_t(i * V), std::size_t(V));
            if (i == k) sampler.distribution(last, tokens_);  // every draft kept: one more from the last row
            session_.truncate(N + i);  // keep tokens_[0, N + i): the fed last token and the kept drafts
            if (emit(sampler.draw(last))) return r;
        }
    }

    const SpeculativeStats& stats() const { return stats_; }
    std::span<const std::int32_t> tokens() const { return tokens_; }

private:
    void residual(std::span<float> p, std::int64_t i, std::int32_t d) const {
        if constexpr (D::samples) {
            const auto q = std::span(draft_probs_).subspan(std::size_t(i) * p.size(), p.size());
            for (std::size_t t = 0; t < p.size(); ++t) p[t] = std::max(p[t] - q[t], 0.f);
        } else {
            p[std::size_t(d)] = 0.f;
        }
    }

    const M* model_;
    D* drafter_;
    ThreadPool* pool_;
    const Tokenizer* tokenizer_;
    std::int64_t k_;
    typename M::Session session_;
    std::vector<float> logits_, draft_probs_;
    std::vector<std::int32_t> draft_, input_, tokens_;
    SpeculativeStats stats_;
};

}  // namespace lamina
