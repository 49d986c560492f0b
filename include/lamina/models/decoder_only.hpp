#pragma once
// DecoderOnly<Embedding, Stack, FinalNorm>: token ids → embedding → the block stack → final norm → LM head →
// logits. The LM head is its own matrix, or the embedding table packed once more when the config ties them.
#include "lamina/layers/embedding.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

template <class Embedding, class Stack, Norm FinalNorm>
struct DecoderOnly {
    struct Weights {
        typename Embedding::Weights embed;
        typename Stack::Weights layers;
        typename FinalNorm::Weights final_norm;
        Linear lm_head;
        template <class V>
        void visit(V& v, const ModelConfig& c) {
            embed.visit(v, "embed", c);
            layers.visit(v, "layers", c);
            final_norm.visit(v, "final_norm", c.d_model);
            if (c.tie_embeddings)
                v.linear_from("lm_head", lm_head, embed.tokens, c.vocab_size, c.d_model);
            else
                v.linear("lm_head", lm_head, c.vocab_size, c.d_model, false);
        }
    };
    using State = typename Stack::State;

    static std::int64_t output_width(const ModelConfig& c) { return c.vocab_size; }
    static State make_state(const ModelConfig& c, std::int64_t capacity) { return Stack::make_state(c, capacity); }
    static void prepare(const ModelConfig& c, SharedTables& t) { Stack::prepare(c, t); }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const std::size_t rows = std::size_t(T * c.d_model) * sizeof(float) + simd::kAlign;
        // The residual stream, a logit-lens copy of it, the previous hidden state and one row of lens logits (early
        // exit), then the stack.
        return 3 * rows + std::size_t(c.vocab_size) * sizeof(float) + simd::kAlign + Stack::scratch_bytes(c, T);
    }
    static constexpr bool runs_layer_schedules = RunsLayerSchedules<Stack>;
    static void add_schedule_states(const ModelConfig& c, State& s, std::span<const LayerStep> steps,
                                    std::int64_t capacity) {
        Stack::add_schedule_states(c, s, steps, capacity);
    }

    // logits: [T, vocab] for every token, or [1, vocab] for the last one only (a decode step or end of prefill).
    static void forward(const Weights& w, const ModelConfig& c, State& state, std::span<const std::int32_t> tokens,
                        TensorView<float> logits, const ForwardContext& ctx) {
        run(w, c, tokens, logits, ctx, [&](TensorView<float> x) { Stack::forward(w.layers, c, state, x, ctx); });
    }

    // forward() through the steps of a layer schedule (empty: all layers), with observe(k, x) called after step k
    // (Stack::run: returning true exits early). Returns the number of steps run in full.
    template <class Observe>
    static int forward_steps(const Weights& w, const ModelConfig& c, State& state,
                             std::span<const std::int32_t> tokens, TensorView<float> logits, const ForwardContext& ctx,
                             std::span<const LayerStep> steps, Observe&& observe) {
        int full = 0;
        run(w, c, tokens, logits, ctx,
            [&](TensorView<float> x) { full = Stack::run(w.layers, c, state, x, ctx, steps, observe); });
        return full;
    }

    // A batched decode step: token b continues the sequence whose state is state(b), at context rows[b].
    template <class StateOf>
    static void forward_batch(const Weights& w, const ModelConfig& c, StateOf&& state,
                              std::span<const std::int32_t> tokens, TensorView<float> logits,
                              const ForwardContext& ctx, std::span<const ForwardContext> rows) {
        const std::int64_t B = std::int64_t(tokens.size());
        ArenaScope scope(*ctx.arena);
        const TensorView<float> x(ctx.arena->alloc<float>(std::size_t(B * c.d_model)).data(), {B, c.d_model});
        for (std::int64_t b = 0; b < B; ++b)
            Embedding::embed(w.embed, c, tokens.subspan(std::size_t(b), 1), x.slice_rows(b, 1), rows[std::size_t(b)]);
        Stack::forward_batch(w.layers, c, state, x, ctx, rows);
        head(w, c, x, logits, ctx);
    }

    // The logit lens: final norm and LM head applied to hidden rows x (left unchanged) taken mid-stack.
    static void lens(const Weights& w, const ModelConfig& c, TensorView<const float> x, TensorView<float> logits,
                     const ForwardContext& ctx) {
        ArenaScope scope(*ctx.arena);
        const TensorView<float> h(ctx.arena->alloc<float>(std::size_t(x.rows() * c.d_model)).data(),
                                  {x.rows(), c.d_model});
        FinalNorm::apply(w.final_norm, x, h, c.norm_eps);
        w.lm_head.forward(h, logits, ctx.pool);
    }

private:
    // Embeds the tokens, lets layers(x) update the residual stream, writes the logits.
    template <class Layers>
    static void run(const Weights& w, const ModelConfig& c, std::span<const std::int32_t> tokens,
                    TensorView<float> logits, const ForwardContext& ctx, Layers&& layers) {
        const std::int64_t T = std::int64_t(tokens.size());
        LAMINA_CHECK(logits.rows() == T || logits.rows() == 1, "DecoderOnly: logits have ", logits.rows(),
                     " rows for ", T, " tokens (need ", T, " or 1)");
        ArenaScope scope(*ctx.arena);
        const TensorView<float> x(ctx.arena->alloc<float>(std::size_t(T * c.d_model)).data(), {T, c.d_model});
        Embedding::embed(w.embed, c, tokens, x, ctx);
        layers(x);
        head(w, c, logits.rows() == T ? x : x.slice_rows(T - 1, 1), logits, ctx);
    }
    static void head(const Weights& w, const ModelConfig& c, TensorView<float> rows, TensorView<float> logits,
                     const ForwardContext& ctx) {
        FinalNorm::apply(w.final_norm, rows, rows, c.norm_eps);
        w.lm_head.forward(rows, logits, ctx.pool);
    }
};

}  // namespace lamina
