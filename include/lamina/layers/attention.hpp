#pragma once
// Attention<Positions, Mask>: multi-head self-attention with grouped K/V heads (MHA when n_kv_heads = n_heads, GQA
// between, MQA at 1), query-head count and head_dim independent of d_model. One token row flows as
//   qkv = x·[Wq; Wk; Wv]ᵀ (+b)   one fused packed matrix, so x is read once
//   rotate q, k (RoPE)           Positions policy
//   cache ← k, v                 KvCache (the layer's state)
//   o = softmax(q·Kᵀ·scale + bias, masked) · V     fused online-softmax kernel, Mask + Positions as a ScoreMod
//   residual += o·Woᵀ (+b)       the residual add fused into the GEMM epilogue
//
// Masks say which keys position q may see: Causal [0, q], Bidirectional (all), SlidingWindow [q − w + 1, q] with
// w from the config (one window, or one per head for multi-window attention; 0 means unbounded).
#include "lamina/kernels/attention.hpp"
#include "lamina/layers/context.hpp"
#include "lamina/layers/kv_cache.hpp"
#include "lamina/layers/norm.hpp"
#include "lamina/layers/positions.hpp"
#include "lamina/layers/weights.hpp"

#include <limits>

namespace lamina {

struct Causal {
    static kernels::KeyRange range(const ModelConfig&, int, std::int64_t q) { return {0, q + 1}; }
};
struct Bidirectional {
    static kernels::KeyRange range(const ModelConfig&, int, std::int64_t) {
        return {0, std::numeric_limits<std::int64_t>::max()};
    }
};
struct SlidingWindow {
    static kernels::KeyRange range(const ModelConfig& c, int h, std::int64_t q) {
        const int w = c.head_windows.empty() ? c.sliding_window : c.head_windows[std::size_t(h)];
        return {w > 0 ? q - w + 1 : 0, q + 1};
    }
    // The most keys any head sees (0: unbounded): what the layer's cache must hold (KvCache::windowed).
    static std::int64_t window(const ModelConfig& c) {
        if (c.head_windows.empty()) return c.sliding_window;
        const bool unbounded = std::ranges::find(c.head_windows, 0) != c.head_windows.end();
        return unbounded ? 0 : std::ranges::max(c.head_windows);
    }
};

template <class M>
concept AttentionMask = requires(const ModelConfig& c, int h, std::int64_t q) {
    { M::range(c, h, q) } -> std::same_as<kernels::KeyRange>;
};

template <class P>
concept PositionPolicy = requires(const ModelConfig& c, SharedTables& t, const ForwardContext& ctx, float* p) {
    P::prepare(c, t);
    P::rotate(c, ctx, p, std::int64_t{}, std::int64_t{});
    { P::biases_scores } -> std::convertible_to<bool>;
};

// QkNorm (NoNorm, or RmsNorm as in Qwen3 / OLMo-2 / Gemma 3) normalises every q and k head over head_dim before
// the rotation, with one weight vector of head_dim for q and one for k.
template <PositionPolicy Positions, AttentionMask Mask, Norm QkNorm = NoNorm>
struct Attention {
    static constexpr bool has_qk_norm = !std::is_same_v<QkNorm, NoNorm>;
    struct Weights {
        Linear qkv, o;
        typename QkNorm::Weights q_norm, k_norm;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            const std::string parts[] = {"q", "k", "v"};
            const std::int64_t rows[] = {std::int64_t(c.n_heads) * c.head_dim, std::int64_t(c.n_kv_heads) * c.head_dim,
                                         std::int64_t(c.n_kv_heads) * c.head_dim};
            v.linear_stacked(path, parts, rows, c.d_model, c.qkv_bias, qkv);
            v.linear(path + ".o", o, c.d_model, rows[0], c.o_bias);
            if constexpr (has_qk_norm) {
                q_norm.visit(v, path + ".q_norm", c.head_dim);
                k_norm.visit(v, path + ".k_norm", c.head_dim);
            }
        }
    };
    using State = KvCache;

    static State make_state(const ModelConfig& c, std::int64_t capacity) {
        if constexpr (requires { Mask::window(c); })
            return KvCache::windowed(c.n_kv_heads, c.head_dim, capacity, Mask::window(c), c.kv_cache);
        else
            return KvCache(c.n_kv_heads, c.head_dim, capacity, c.kv_cache);
    }
    static void prepare(const ModelConfig& c, SharedTables& t) { Positions::prepare(c, t); }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t tokens) {
        const std::int64_t q = std::int64_t(c.n_heads) * c.head_dim;
        return std::size_t(tokens * (q + 2 * std::int64_t(c.n_kv_heads) * c.head_dim + q)) * sizeof(float) +
               kernels::attention_scratch_bytes(c.n_heads, c.head_dim, c.max_positions) + 4 * simd::kAlign;
    }

    // The score modifier handed to the kernel: query row i is at position pos0 + i; kernel key index j is position
    // j + key_offset (the positions an evicting cache dropped; 0 otherwise). Padded is a template flag so that calls
    // without a padding mask (every decoder step) keep the score pass free.
    template <bool Padded>
    struct Scores {
        const ModelConfig& c;
        const SharedTables& tables;
        std::int64_t pos0, key_offset;
        std::span<const std::uint8_t> key_padding;  // ForwardContext::key_padding, when Padded
        static constexpr bool adjusts_scores = Positions::biases_scores || Padded;
        kernels::KeyRange range(int h, std::int64_t i) const {
            const kernels::KeyRange r = Mask::range(c, h, pos0 + i);
            return {std::max<std::int64_t>(0, r.begin - key_offset), r.end - key_offset};
        }
        simd::FloatV adjust(int h, std::int64_t i, std::int64_t k0, simd::FloatV s) const {
            if constexpr (Positions::biases_scores) s = s + Positions::bias(tables, h, pos0 + i, k0);
            if constexpr (Padded) {
                // Padding keys score -inf; lanes past the mask are beyond the cache and masked by the kernel.
                alignas(simd::kAlign) float pad[simd::kWidth];
                for (std::size_t j = 0; j < simd::kWidth; ++j) {
                    const std::size_t k = std::size_t(k0) + j;
                    pad[j] = k < key_padding.size() && !key_padding[k] ? -std::numeric_limits<float>::infinity() : 0.f;
                }
                s = s + simd::FloatV::load_aligned(pad);
            }
            return s;
        }
    };

    // residual [T, d] += attention(x) for the T normalised rows x at positions pos0 … pos0+T−1.
    static void forward(const Weights& w, const ModelConfig& c, State& cache, TensorView<const float> x,
                        TensorView<float> residual, const ForwardContext& ctx) {
        forward_rows(w, c, x, residual, ctx, [&](float* qkv, float* out) { attend(c, cache, qkv, x.rows(), out, ctx); });
    }

    // A batched decode step: row b of x is the next token of sequence b, with cache state(b) and context rows[b]
    // (its position). The projections run as one GEMM over all rows, the attention per sequence.
    template <class StateOf>
    static void forward_batch(const Weights& w, const ModelConfig& c, StateOf&& state, TensorView<const float> x,
                              TensorView<float> residual, const ForwardContext& ctx,
                              std::span<const ForwardContext> rows) {
        forward_rows(w, c, x, residual, ctx, [&](float* qkv, float* out) {
            for (std::size_t b = 0; b < rows.size(); ++b)
                attend(c, state(b), qkv + std::int64_t(b) * qkv_width(c), 1,
                       out + std::int64_t(b) * c.n_heads * c.head_dim, rows[b]);
        });
    }

    // Caches the keys and values of rows x without attending: a layer an early-exited token skips still sees the
    // token, so the next tokens find a consistent cache.
    static void propagate(const Weights& w, const ModelConfig& c, State& cache, TensorView<const float> x,
                          const ForwardContext& ctx) {
        ArenaScope scope(*ctx.arena);
        attend(c, cache, project(w, c, x, ctx), x.rows(), nullptr, ctx);
    }

private:
    static std::int64_t qkv_width(const ModelConfig& c) { return std::int64_t(c.n_heads + 2 * c.n_kv_heads) * c.head_dim; }

    // qkv = x·[Wq; Wk; Wv]ᵀ (+ QK-norm), in the caller's arena scope.
    static float* project(const Weights& w, const ModelConfig& c, TensorView<const float> x, const ForwardContext& ctx) {
        const std::int64_t T = x.rows(), q_width = std::int64_t(c.n_heads) * c.head_dim, width = qkv_width(c);
        float* qkv = ctx.arena->alloc<float>(std::size_t(T * width)).data();
        w.qkv.forward(x, TensorView<float>(qkv, {T, width}), ctx.pool);
        if constexpr (has_qk_norm) {
            for (std::int64_t t = 0; t < T; ++t) {
                const auto heads = [&](std::int64_t offset, int n) {
                    return TensorView<float>::matrix(qkv + t * width + offset, n, c.head_dim, c.head_dim);
                };
                QkNorm::apply(w.q_norm, heads(0, c.n_heads), heads(0, c.n_heads), c.norm_eps);
                QkNorm::apply(w.k_norm, heads(q_width, c.n_kv_heads), heads(q_width, c.n_kv_heads), c.norm_eps);
            }
        }
        return qkv;
    }

    // Projects x, lets attend_all(qkv, out) fill the attention outputs, then residual += out·Woᵀ.
    template <class AttendAll>
    static void forward_rows(const Weights& w, const ModelConfig& c, TensorView<const float> x,
                             TensorView<float> residual, const ForwardContext& ctx, AttendAll&& attend_all) {
        const std::int64_t T = x.rows(), q_width = std::int64_t(c.n_heads) * c.head_dim;
        ArenaScope scope(*ctx.arena);
        float* qkv = project(w, c, x, ctx);
        auto out = ctx.arena->alloc<float>(std::size_t(T * q_width));
        attend_all(qkv, out.data());
        w.o.forward(TensorView<const float>(out.data(), {T, q_width}), residual, ctx.pool, Activation::identity, true);
    }

    // For T projected rows of one sequence at positions ctx.pos0…: rotate q and k, cache k and v, write the
    // attention outputs (rows q_width apart; out = nullptr caches only). A ring cache takes the rows in slices it
    // can hold; an evicting cache drops keys once they have been attended to.
    static void attend(const ModelConfig& c, KvCache& cache, float* qkv, std::int64_t T, float* out,
                       const ForwardContext& ctx) {
        const std::int64_t q_width = std::int64_t(c.n_heads) * c.head_dim,
                           kv_width = std::int64_t(c.n_kv_heads) * c.head_dim, width = qkv_width(c);
        LAMINA_CHECK(cache.size() == ctx.pos0, "Attention: the cache holds ", cache.size(),
                     " positions but this call starts at position ", ctx.pos0);
        LAMINA_CHECK(cache.evicted() == 0 || (!Positions::biases_scores && ctx.key_padding.empty()),
                     "Attention: an evicting KV cache cannot serve position biases or key padding");
        Positions::rotate(c, ctx, qkv, width, T);
        for (std::int64_t t0 = 0; t0 < T;) {
            const std::int64_t n = std::min(T - t0, cache.max_append());
            float* rows = qkv + t0 * width;
            cache.append(rows + q_width, rows + q_width + kv_width, width, n);
            if (out) {
                const kernels::AttentionShape shape{c.n_heads,        c.n_kv_heads,       c.head_dim,
                                                    n,                cache.kernel_keys(), c.attention_scale(),
                                                    c.attn_softcap,   cache.key_ring()};
                const auto run = [&](const auto& scores) {
                    cache.with_views([&](auto keys, auto values) {
                        kernels::attention(shape, rows, width, keys, values, out + t0 * q_width, q_width, scores,
                                           *ctx.arena, ctx.pool);
                    });
                };
                if (ctx.key_padding.empty()) {
                    run(Scores<false>{c, *ctx.tables, ctx.pos0 + t0, cache.evicted(), {}});
                } else {
                    LAMINA_CHECK(std::int64_t(ctx.key_padding.size()) >= cache.size(),
                                 "Attention: the key padding mask covers ", ctx.key_padding.size(),
                                 " positions, the cache holds ", cache.size());
                    run(Scores<true>{c, *ctx.tables, ctx.pos0 + t0, 0, ctx.key_padding});
                }
            }
            t0 += n;
        }
        cache.evict_over_budget();
    }
};

}  // namespace lamina
