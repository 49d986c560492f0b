#pragma once
// Generator: prompt in, tokens out, for any LanguageModel. It owns one session, the logits row and the token
// sequence (sized at construction), so after the prefill each step is: sample → stream/stop check → one-token
// forward, with no allocation of its own. Causal LMs take a prompt; encoder-decoders take a source, encoded once,
// and a decoder prompt (usually the decoder start token). With `dola` set, each forward also writes the logit lens
// of an early layer and the sampler scores the contrast of the two (generate/dola.hpp) instead of the logits.
//
//   Generator gen(model, &pool, &tokenizer);
//   GenerationOptions o;
//   o.sampling.temperature = 0.7f, o.sampling.top_p = 0.9f, o.sampling.seed = 42;
//   o.stop.max_new_tokens = 100, o.stop.eos_ids = {*tokenizer.eos_id()};
//   auto r = gen.generate(tokenizer.encode(prompt), o, [](std::int32_t, std::string_view text) { std::cout << text; });
#include "lamina/generate/dola.hpp"
#include "lamina/generate/language_model.hpp"
#include "lamina/generate/sampler.hpp"
#include "lamina/generate/stop_conditions.hpp"

namespace lamina {

struct GenerationOptions {
    SamplingOptions sampling;
    StopConditions stop;
    std::optional<DolaOptions> dola;  // Generator only, models with a logit lens (LensModel)
};

struct GenerationResult {
    std::vector<std::int32_t> tokens;  // generated tokens, the one that stopped generation included
    StopReason reason = StopReason::max_tokens;
};

template <LanguageModel M>
class Generator {
public:
    using Session = typename M::Session;

    explicit Generator(const M& model, ThreadPool* pool = nullptr, const Tokenizer* tokenizer = nullptr,
                       std::int64_t max_chunk = 256)
        : model_(&model), pool_(pool), tokenizer_(tokenizer), session_(model.session(max_chunk)),
          logits_(std::size_t(model.config().vocab_size)) {
        tokens_.reserve(std::size_t(model.config().max_positions));
        if constexpr (LensModel<M>) early_.resize(logits_.size());
    }

    // Causal LM: a new sequence starting with the prompt.
    template <TokenCallback OnToken = NoCallback>
    GenerationResult generate(std::span<const std::int32_t> prompt, const GenerationOptions& o, OnToken&& on_token = {})
        requires(!Seq2SeqModel<M>)
    {
        session_.reset();
        return decode(prompt, o, on_token);
    }

    // Encoder-decoder: encodes the source, then decodes after the decoder prompt.
    template <TokenCallback OnToken = NoCallback>
    GenerationResult generate(std::span<const std::int32_t> source, std::span<const std::int32_t> decoder_prompt,
                              const GenerationOptions& o, OnToken&& on_token = {})
        requires Seq2SeqModel<M>
    {
        model_->encode(session_, source, pool_);
        return decode(decoder_prompt, o, on_token);
    }

    // The whole sequence of the last generation: prompt (decoder prompt) and generated tokens.
    std::span<const std::int32_t> tokens() const { return tokens_; }
    Session& session() { return session_; }

private:
    template <class OnToken>
    GenerationResult decode(std::span<const std::int32_t> prompt, const GenerationOptions& o, OnToken& on_token) {
        LAMINA_CHECK(!prompt.empty(), "Generator: empty prompt");
        const std::int64_t V = model_->config().vocab_size, context = model_->config().max_positions;
        LAMINA_CHECK(std::int64_t(prompt.size()) < context, "Generator: a prompt of ", prompt.size(),
                     " tokens leaves no room in the context of ", context);
        std::optional<DolaContrast> contrast;
        if (o.dola) {
            LAMINA_CHECK(LensModel<M>, "Generator: DoLa needs a model with a logit lens (Model::forward_with_lens)");
            contrast = DolaContrast{o.dola->alpha, early_};
        }
        TokenSampler sampler(o.sampling, std::int32_t(V), contrast);
        StopChecker stop(o.stop, tokenizer_);
        tokens_.assign(prompt.begin(), prompt.end());
        const TensorView<float> row(logits_.data(), {1, V});
        GenerationResult r;
        r.tokens.reserve(std::size_t(std::min(o.stop.max_new_tokens, context)));
        if (stop.exhausted()) return r;
        forward(prompt, row, o.dola);  // prefill: logits of the last prompt token
        for (;;) {
            const std::int32_t id = sampler.sample(logits_, tokens_);
            tokens_.push_back(id);
            r.tokens.push_back(id);
            if (const auto why = stop.push(id, on_token)) {
                r.reason = *why;
                return r;
            }
            if (std::int64_t(tokens_.size()) >= context) {
                r.reason = StopReason::context_full;
                return r;
            }
            forward(std::span(&tokens_.back(), 1), row, o.dola);
        }
    }

    // One forward call; with DoLa, the early layer's logits land in early_ (the contrast's view).
    void forward(std::span<const std::int32_t> tokens, TensorView<float> row, const std::optional<DolaOptions>& dola) {
        if constexpr (LensModel<M>) {
            if (dola) {
                const TensorView<float> early(early_.data(), {1, row.cols()});
                model_->forward_with_lens(session_, tokens, row, dola->layers, early, pool_);
                return;
            }
        }
        model_->forward(session_, tokens, row, pool_);
    }

    const M* model_;
    ThreadPool* pool_;
    const Tokenizer* tokenizer_;
    Session session_;
    std::vector<float> logits_, early_;
    std::vector<std::int32_t> tokens_;
};

}  // namespace lamina
