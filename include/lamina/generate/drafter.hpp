#pragma once
// Drafters propose the next few tokens for speculative decoding; the target model then checks them all in one
// forward pass. A Drafter is told when a generation starts (with its sampling options) and asked to continue a
// context with up to draft.size() tokens. Drafters that sample (samples == true) also write, for each proposed
// token, the distribution it was drawn from ([k, vocab] rows of `probs`) — rejection sampling needs it to keep
// the target's distribution exact. Deterministic drafters (prompt lookup) propose with probability one.
//
// ModelDrafter runs a second model (same vocabulary) in its own session. Self-speculation is the same drafter
// over the target model itself, given a session that runs fewer layers (a layer schedule): the drafter only ever
// sees a session, so any way of making a cheaper one plugs in; self_speculative_drafter builds the usual one.
#include "lamina/generate/language_model.hpp"
#include "lamina/generate/sampler.hpp"
#include "lamina/models/layer_schedule.hpp"

#include <optional>

namespace lamina {

template <class D>
concept Drafter = requires(D& d, const SamplingOptions& o, std::span<const std::int32_t> context,
                           std::span<std::int32_t> draft, std::span<float> probs) {
    d.start(o);
    { d.propose(context, draft, probs) } -> std::same_as<std::int64_t>;
    { D::samples } -> std::convertible_to<bool>;
};

template <RollbackModel M>
class ModelDrafter {
public:
    using Session = typename M::Session;
    static constexpr bool samples = true;

    // A drafter running `session` (for self-speculation: a session of the target with layers skipped).
    ModelDrafter(const M& model, Session session, ThreadPool* pool = nullptr)
        : model_(&model), pool_(pool), session_(std::move(session)),
          logits_(std::size_t(model.config().vocab_size)) {
        const auto n = std::size_t(model.config().max_positions);
        fed_.reserve(n);
        history_.reserve(n);
    }
    explicit ModelDrafter(const M& model, ThreadPool* pool = nullptr, std::int64_t max_chunk = 256)
        : ModelDrafter(model, model.session(max_chunk), pool) {}

    // A new generation: the draft samples with the target's options from its own random stream.
    void start(const SamplingOptions& o) {
        SamplingOptions own = o;
        own.seed = o.seed ^ 0xD1B54A32D192ED03ull;
        sampler_.emplace(own, model_->config().vocab_size);
        session_.reset();
        fed_.clear();
    }

    std::int64_t propose(std::span<const std::int32_t> context, std::span<std::int32_t> draft, std::span<float> probs) {
        LAMINA_CHECK(sampler_, "ModelDrafter: start() a generation first");
        const std::int64_t V = model_->config().vocab_size;
        const auto k = std::min<std::int64_t>(std::int64_t(draft.size()),
                                              model_->config().max_positions - std::int64_t(context.size()));
        if (k <= 0 || context.empty()) return 0;
        // The session keeps what it was fed last time; roll back to where that still agrees with the context
        // (rejected drafts go), keeping at least one token to feed for fresh logits.
        std::size_t keep = 0;
        while (keep < fed_.size() && keep < context.size() && fed_[keep] == context[keep]) ++keep;
        keep = std::min(keep, context.size() - 1);
        session_.truncate(std::int64_t(keep));
        fed_.resize(keep);
        const TensorView<float> row(logits_.data(), {1, V});
        feed(context.subspan(keep), row);
        history_.assign(context.begin(), context.end());
        for (std::int64_t i = 0; i < k; ++i) {
            const auto q = probs.subspan(std::size_t(i * V), std::size_t(V));
            std::copy(logits_.begin(), logits_.end(), q.begin());
            sampler_->distribution(q, history_);
            draft[std::size_t(i)] = sampler_->draw(q);
            history_.push_back(draft[std::size_t(i)]);
            if (i + 1 < k) feed(std::span(&history_.back(), 1), row);
        }
        return k;
    }

private:
    void feed(std::span<const std::int32_t> tokens, TensorView<float> row) {
        model_->forward(session_, tokens, row, pool_);
        fed_.insert(fed_.end(), tokens.begin(), tokens.end());
    }

    const M* model_;
    ThreadPool* pool_;
    Session session_;
    std::optional<TokenSampler> sampler_;
    std::vector<float> logits_;
    std::vector<std::int32_t> fed_, history_;
};

// Self-speculative decoding (Zhang et al. 2023, "Draft & Verify"): the target drafts for itself with the listed
// layers skipped, so no second model and no second set of weights. The draft session has its own caches for the
// layers it runs; the verifying target session is the generator's own.
//
//   auto self = self_speculative_drafter(model, std::vector{3, 5}, &pool);
//   SpeculativeGenerator spec(model, self, /*draft_tokens=*/4, &pool);
template <RollbackModel M>
    requires requires(const M& m, std::int64_t max_chunk, LayerSchedule s) { m.session(max_chunk, s); }
ModelDrafter<M> self_speculative_drafter(const M& model, std::span<const int> skipped_layers,
                                         ThreadPool* pool = nullptr, std::int64_t max_chunk = 256) {
    const int n = model.config().n_layers;
    LayerSchedule schedule = LayerSchedule::skipping(n, skipped_layers);
    // An empty schedule would mean "every layer": refuse it, and a list naming none of the model's layers.
    LAMINA_CHECK(!schedule.empty(), "self_speculative_drafter: skipping every one of the ", n,
                 " layers leaves no draft");
    LAMINA_CHECK(std::int64_t(schedule.steps().size()) < n, "self_speculative_drafter: no layer of 0..", n - 1,
                 " is skipped (the draft would be the target)");
    return ModelDrafter<M>(model, model.session(max_chunk, std::move(schedule)), pool);
}

}  // namespace lamina
