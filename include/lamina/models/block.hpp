#pragma once
// Block<Placement, Norm, Mixer, Ffn>: one transformer layer assembled from policies. The token mixer (attention,
// SSM) owns the per-sequence state; the channel mixer (MLP, GLU, MoE, none) is stateless. Placement is where the
// norms sit relative to the residual stream x:
//   PreNorm      x += mixer(n1(x));        x += ffn(n2(x))          (GPT-2, Llama, T5)
//   PostNorm     x = n1(x + mixer(x));      x = n2(x + ffn(x))       (BERT, the original transformer)
//   ParallelNorm x += mixer(n1(x)) + ffn(n2(x)), both from the same x (GPT-J, GPT-NeoX)
#include "lamina/layers/attention.hpp"
#include "lamina/layers/ffn.hpp"
#include "lamina/layers/shared_ffn.hpp"
#include "lamina/layers/norm.hpp"

namespace lamina {

// Which parts of a layer a forward call runs (a layer schedule may skip either).
struct Sublayers {
    bool mixer = true, ffn = true;
};

namespace detail {
// A batched decode step through a token mixer: its own forward_batch when it has one (Attention: one GEMM for the
// projections of all rows), otherwise one call per sequence on its row.
template <class Mixer, class StateOf>
void mix_batch(const typename Mixer::Weights& w, const ModelConfig& c, StateOf& state, TensorView<const float> h,
               TensorView<float> residual, const ForwardContext& ctx, std::span<const ForwardContext> rows) {
    if constexpr (requires { Mixer::forward_batch(w, c, state, h, residual, ctx, rows); }) {
        Mixer::forward_batch(w, c, state, h, residual, ctx, rows);
    } else {
        for (std::size_t b = 0; b < rows.size(); ++b)
            Mixer::forward(w, c, state(b), h.slice_rows(std::int64_t(b), 1), residual.slice_rows(std::int64_t(b), 1),
                           rows[b]);
    }
}

// Advances a mixer's state over rows h without producing its output: Mixer::propagate when the mixer has a cheaper
// way (Attention caches k and v only), otherwise a full forward into discarded scratch.
template <class Mixer>
void propagate_state(const typename Mixer::Weights& w, const ModelConfig& c, typename Mixer::State& state,
                     TensorView<const float> h, const ForwardContext& ctx) {
    if constexpr (requires { Mixer::propagate(w, c, state, h, ctx); }) {
        Mixer::propagate(w, c, state, h, ctx);
    } else {
        ArenaScope scope(*ctx.arena);
        const TensorView<float> sink(ctx.arena->alloc<float>(std::size_t(h.rows() * h.cols())).data(),
                                     {h.rows(), h.cols()});
        Mixer::forward(w, c, state, h, sink, ctx);
    }
}

// The entry points of a block B, written once around B's forward_with(w, c, x, ctx, run, mix) — its data flow with
// the token mixer as a callable mix(h, residual) — and B's mixer_input(w, c, x, h).
template <class B, class Mixer>
struct BlockEntryPoints {
    // x: the residual stream, [T, d_model], updated in place. `run` may leave a sublayer out (a layer schedule).
    template <class W>
    static void forward(const W& w, const ModelConfig& c, typename Mixer::State& state, TensorView<float> x,
                        const ForwardContext& ctx, Sublayers run = {}) {
        B::forward_with(w, c, x, ctx, run, [&](TensorView<const float> h, TensorView<float> r) {
            Mixer::forward(w.mixer, c, state, h, r, ctx);
        });
    }
    // A batched decode step: row b is the next token of the sequence with state(b) and context rows[b].
    template <class W, class StateOf>
    static void forward_batch(const W& w, const ModelConfig& c, StateOf&& state, TensorView<float> x,
                              const ForwardContext& ctx, std::span<const ForwardContext> rows) {
        B::forward_with(w, c, x, ctx, {}, [&](TensorView<const float> h, TensorView<float> r) {
            mix_batch<Mixer>(w.mixer, c, state, h, r, ctx, rows);
        });
    }
    // Brings the state up to date with x without changing x (early exit: a layer the token skips still caches
    // its keys, computed from the exit hidden state, so later tokens see a consistent cache).
    template <class W>
    static void propagate(const W& w, const ModelConfig& c, typename Mixer::State& state, TensorView<const float> x,
                          const ForwardContext& ctx) {
        ArenaScope scope(*ctx.arena);
        const TensorView<float> h(ctx.arena->alloc<float>(std::size_t(x.rows() * x.cols())).data(), {x.rows(), x.cols()});
        B::mixer_input(w, c, x, h);
        propagate_state<Mixer>(w.mixer, c, state, h, ctx);
    }
};
}  // namespace detail

struct PreNorm {};
struct PostNorm {};
struct ParallelNorm {};

template <class M>
concept TokenMixer = requires(const ModelConfig& c, SharedTables& t) {
    typename M::Weights;
    typename M::State;
    { M::make_state(c, std::int64_t{}) } -> std::same_as<typename M::State>;
    M::prepare(c, t);
    { M::scratch_bytes(c, std::int64_t{}) } -> std::convertible_to<std::size_t>;
};

template <class F>
concept ChannelMixer = requires(const ModelConfig& c, const typename F::Weights& w, TensorView<const float> x,
                                TensorView<float> y, const ForwardContext& ctx) {
    F::forward(w, c, x, y, ctx);
    { F::scratch_bytes(c, std::int64_t{}) } -> std::convertible_to<std::size_t>;
};

template <class Placement, Norm N, TokenMixer Mixer, ChannelMixer Ffn>
struct Block : detail::BlockEntryPoints<Block<Placement, N, Mixer, Ffn>, Mixer> {
    static_assert(std::is_same_v<Placement, PreNorm> || std::is_same_v<Placement, PostNorm> ||
                      std::is_same_v<Placement, ParallelNorm>,
                  "Block: Placement must be PreNorm, PostNorm or ParallelNorm");
    static constexpr bool has_ffn = !std::is_same_v<Ffn, NoFfn>;

    struct Weights {
        typename N::Weights mixer_norm, ffn_norm;
        typename Mixer::Weights mixer;
        typename Ffn::Weights ffn;
        void share(const Weights& first) { share_weights(ffn, first.ffn); }  // SharedFfn: the first layer's set
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            mixer_norm.visit(v, path + ".mixer_norm", c.d_model);
            mixer.visit(v, path + ".mixer", c);
            if constexpr (has_ffn) {
                ffn_norm.visit(v, path + ".ffn_norm", c.d_model);
                ffn.visit(v, path + ".ffn", c);
            }
        }
    };
    using State = typename Mixer::State;

    static State make_state(const ModelConfig& c, std::int64_t capacity) { return Mixer::make_state(c, capacity); }
    static void prepare(const ModelConfig& c, SharedTables& t) { Mixer::prepare(c, t); }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const std::size_t h = std::size_t(T * c.d_model) * sizeof(float) + simd::kAlign;
        return 2 * h + std::max(Mixer::scratch_bytes(c, T), Ffn::scratch_bytes(c, T));
    }

    // forward(w, c, state, x, ctx, run), forward_batch and propagate: detail::BlockEntryPoints.

private:
    friend struct detail::BlockEntryPoints<Block, Mixer>;
    // What the token mixer reads from the residual stream x (the state update of a skipped layer, propagate()).
    static void mixer_input(const Weights& w, const ModelConfig& c, TensorView<const float> x, TensorView<float> h) {
        if constexpr (std::is_same_v<Placement, PostNorm>)
            copy_rows(x, h);
        else
            N::apply(w.mixer_norm, x, h, c.norm_eps);
    }
    // The block's data flow with the token mixer as a callable mix(h, residual): residual += mixer(h).
    template <class Mix>
    static void forward_with(const Weights& w, const ModelConfig& c, TensorView<float> x, const ForwardContext& ctx,
                             Sublayers run, Mix&& mix) {
        const std::int64_t T = x.rows(), d = x.cols();
        const bool ffn = has_ffn && run.ffn;
        ArenaScope scope(*ctx.arena);
        const TensorView<float> h(ctx.arena->alloc<float>(std::size_t(T * d)).data(), {T, d});
        if constexpr (std::is_same_v<Placement, PreNorm>) {
            if (run.mixer) {
                N::apply(w.mixer_norm, x, h, c.norm_eps);
                mix(h, x);
            }
            if (ffn) {
                N::apply(w.ffn_norm, x, h, c.norm_eps);
                Ffn::forward(w.ffn, c, h, x, ctx);
            }
        } else if constexpr (std::is_same_v<Placement, PostNorm>) {
            if (run.mixer) {
                copy_rows(x, h);  // the mixer reads x while accumulating into it
                mix(h, x);
                N::apply(w.mixer_norm, x, x, c.norm_eps);
            }
            if (ffn) {
                copy_rows(x, h);
                Ffn::forward(w.ffn, c, h, x, ctx);
                N::apply(w.ffn_norm, x, x, c.norm_eps);
            }
        } else {
            const TensorView<float> h2(ctx.arena->alloc<float>(std::size_t(T * d)).data(), {T, d});
            N::apply(w.mixer_norm, x, h, c.norm_eps);
            if (ffn) N::apply(w.ffn_norm, x, h2, c.norm_eps);
            if (run.mixer) mix(h, x);
            if (ffn) Ffn::forward(w.ffn, c, h2, x, ctx);
        }
    }

    static void copy_rows(TensorView<const float> from, TensorView<float> to) {
        for (std::int64_t r = 0; r < from.rows(); ++r) std::copy_n(from.row(r), from.cols(), to.row(r));
    }
};

// MacaronBlock<N, Mixer, Ffn>: the token mixer sandwiched between two half-step FFNs (Macaron-Net, Conformer):
//   x += ½·ffn1(n1(x));  x += mixer(n2(x));  x += ½·ffn2(n3(x));  x = n4(x)
template <Norm N, TokenMixer Mixer, ChannelMixer Ffn>
struct MacaronBlock : detail::BlockEntryPoints<MacaronBlock<N, Mixer, Ffn>, Mixer> {
    struct Weights {
        typename N::Weights ffn1_norm, mixer_norm, ffn2_norm, out_norm;
        typename Mixer::Weights mixer;
        typename Ffn::Weights ffn1, ffn2;
        void share(const Weights& first) {
            share_weights(ffn1, first.ffn1);
            share_weights(ffn2, first.ffn2);
        }
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            ffn1_norm.visit(v, path + ".ffn1_norm", c.d_model);
            ffn1.visit(v, path + ".ffn1", c);
            mixer_norm.visit(v, path + ".mixer_norm", c.d_model);
            mixer.visit(v, path + ".mixer", c);
            ffn2_norm.visit(v, path + ".ffn2_norm", c.d_model);
            ffn2.visit(v, path + ".ffn2", c);
            out_norm.visit(v, path + ".out_norm", c.d_model);
        }
    };
    using State = typename Mixer::State;

    static State make_state(const ModelConfig& c, std::int64_t capacity) { return Mixer::make_state(c, capacity); }
    static void prepare(const ModelConfig& c, SharedTables& t) { Mixer::prepare(c, t); }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const std::size_t h = std::size_t(T * c.d_model) * sizeof(float) + simd::kAlign;
        return 2 * h + std::max(Mixer::scratch_bytes(c, T), Ffn::scratch_bytes(c, T));
    }

private:
    friend struct detail::BlockEntryPoints<MacaronBlock, Mixer>;
    // A skipped layer's mixer sees n2(x): the first half-step is skipped too.
    static void mixer_input(const Weights& w, const ModelConfig& c, TensorView<const float> x, TensorView<float> h) {
        N::apply(w.mixer_norm, x, h, c.norm_eps);
    }
    template <class Mix>
    static void forward_with(const Weights& w, const ModelConfig& c, TensorView<float> x, const ForwardContext& ctx,
                             Sublayers run, Mix&& mix) {
        const std::int64_t T = x.rows(), d = x.cols();
        ArenaScope scope(*ctx.arena);
        const TensorView<float> h(ctx.arena->alloc<float>(std::size_t(T * d)).data(), {T, d});
        const TensorView<float> half(ctx.arena->alloc<float>(std::size_t(T * d)).data(), {T, d});
        auto half_step = [&](const typename N::Weights& norm, const typename Ffn::Weights& ffn) {
            N::apply(norm, x, h, c.norm_eps);
            std::fill_n(half.data(), T * d, 0.f);
            Ffn::forward(ffn, c, h, half, ctx);
            for (std::int64_t r = 0; r < T; ++r)
                for (std::int64_t j = 0; j < d; ++j) x(r, j) += 0.5f * half(r, j);
        };
        if (run.ffn) half_step(w.ffn1_norm, w.ffn1);
        if (run.mixer) {
            N::apply(w.mixer_norm, x, h, c.norm_eps);
            mix(h, x);
        }
        if (run.ffn) half_step(w.ffn2_norm, w.ffn2);
        N::apply(w.out_norm, x, x, c.norm_eps);
    }
};

}  // namespace lamina
