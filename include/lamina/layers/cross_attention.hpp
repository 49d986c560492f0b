#pragma once
// CrossAttention: decoder queries attend over the encoder's output (the "memory"), as in T5's EncDecAttention and
// the original transformer's second sublayer. The memory is fixed for a source sequence, so its keys and values are
// projected once, when the memory is set, into a KvCache that every decoder step reuses:
//   set_memory:  [k | v] = memory·[Wk; Wv]ᵀ (+b)   one fused packed matrix, rows in blocks of kMemoryRows
//   forward:     q = x·Wqᵀ (+b)
//                o = softmax(q·Kᵀ·scale (+ −inf at padded memory keys)) · V   every memory key is visible
//                residual += o·Woᵀ (+b)
// No position term: T5 gives cross-attention no relative bias. The scale is the config's (1 for T5).
#include "lamina/kernels/attention.hpp"
#include "lamina/layers/context.hpp"
#include "lamina/layers/kv_cache.hpp"
#include "lamina/layers/weights.hpp"

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace lamina {

struct CrossAttention {
    static constexpr std::int64_t kMemoryRows = 64;  // memory rows projected per GEMM: bounds set_memory's scratch

    struct Weights {
        Linear q, kv, o;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            const std::int64_t q_rows = std::int64_t(c.n_heads) * c.head_dim;
            const std::int64_t kv_rows = std::int64_t(c.n_kv_heads) * c.head_dim;
            const std::string parts[] = {"k", "v"};
            const std::int64_t rows[] = {kv_rows, kv_rows};
            v.linear(path + ".q", q, q_rows, c.d_model, c.qkv_bias);
            v.linear_stacked(path, parts, rows, c.d_model, c.qkv_bias, kv);
            v.linear(path + ".o", o, c.d_model, q_rows, c.o_bias);
        }
    };

    // Per sequence: the memory's keys and values, and which memory positions are padding (HF attention_mask of the
    // encoder input; all real unless set_memory was given a mask).
    struct State {
        KvCache memory;
        std::vector<std::uint8_t> key_padding;  // capacity entries, allocated once
        bool padded = false;
        void reset() {
            memory.truncate(0);
            padded = false;
        }
    };

    static State make_state(const ModelConfig& c, std::int64_t capacity) {
        return State{KvCache(c.n_kv_heads, c.head_dim, capacity, c.kv_cache), std::vector<std::uint8_t>(std::size_t(capacity), 1),
                     false};
    }
    static void prepare(const ModelConfig&, SharedTables&) {}

    // Scratch of forward() for T decoder rows; the memory may be as long as max_positions.
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t tokens) {
        const std::int64_t q = std::int64_t(c.n_heads) * c.head_dim;
        return std::size_t(2 * tokens * q) * sizeof(float) +
               kernels::attention_scratch_bytes(c.n_heads, c.head_dim, c.max_positions) + 2 * simd::kAlign;
    }
    // Scratch of set_memory(), whatever the memory's length.
    static std::size_t memory_scratch_bytes(const ModelConfig& c) {
        return std::size_t(kMemoryRows * 2 * std::int64_t(c.n_kv_heads) * c.head_dim) * sizeof(float) + simd::kAlign;
    }

    // Projects the memory [S, d_model] into the state's K/V, replacing any previous memory. key_padding, when not
    // empty, has S entries: 0 marks a padding position that no query attends to.
    static void set_memory(const Weights& w, const ModelConfig& c, State& s, TensorView<const float> memory,
                           std::span<const std::uint8_t> key_padding, const ForwardContext& ctx) {
        const std::int64_t S = memory.rows(), kv_width = std::int64_t(c.n_kv_heads) * c.head_dim;
        LAMINA_CHECK(S <= s.memory.capacity(), "CrossAttention: a memory of ", S, " rows exceeds the capacity of ",
                     s.memory.capacity());
        LAMINA_CHECK(key_padding.empty() || std::int64_t(key_padding.size()) == S, "CrossAttention: ",
                     key_padding.size(), " padding flags for a memory of ", S, " rows");
        s.reset();
        ArenaScope scope(*ctx.arena);
        auto kv = ctx.arena->alloc<float>(std::size_t(std::min(S, kMemoryRows) * 2 * kv_width));
        for (std::int64_t r0 = 0; r0 < S; r0 += kMemoryRows) {
            const std::int64_t n = std::min(kMemoryRows, S - r0);
            w.kv.forward(memory.slice_rows(r0, n), TensorView<float>(kv.data(), {n, 2 * kv_width}), ctx.pool);
            s.memory.append(kv.data(), kv.data() + kv_width, 2 * kv_width, n);
        }
        s.padded = !key_padding.empty();
        if (s.padded) std::copy(key_padding.begin(), key_padding.end(), s.key_padding.begin());
    }

    // Every memory key is visible; padded ones score −inf when the memory has padding.
    template <bool Padded>
    struct Scores {
        const std::uint8_t* key_padding;
        std::int64_t n_keys;
        static constexpr bool adjusts_scores = Padded;
        kernels::KeyRange range(int, std::int64_t) const { return {0, n_keys}; }
        simd::FloatV adjust(int, std::int64_t, std::int64_t k0, simd::FloatV s) const {
            if constexpr (Padded) {
                alignas(simd::kAlign) float pad[simd::kWidth];
                for (std::size_t j = 0; j < simd::kWidth; ++j) {
                    const std::int64_t k = k0 + std::int64_t(j);
                    pad[j] = k < n_keys && !key_padding[k] ? -std::numeric_limits<float>::infinity() : 0.f;
                }
                s = s + simd::FloatV::load_aligned(pad);
            }
            return s;
        }
    };

    // residual [T, d] += cross-attention of the T normalised decoder rows x over the memory.
    static void forward(const Weights& w, const ModelConfig& c, State& s, TensorView<const float> x,
                        TensorView<float> residual, const ForwardContext& ctx) {
        LAMINA_CHECK(s.memory.size() > 0, "CrossAttention: no memory (encode the source sequence first)");
        const std::int64_t T = x.rows(), q_width = std::int64_t(c.n_heads) * c.head_dim;
        ArenaScope scope(*ctx.arena);
        auto q = ctx.arena->alloc<float>(std::size_t(T * q_width));
        auto out = ctx.arena->alloc<float>(std::size_t(T * q_width));
        w.q.forward(x, TensorView<float>(q.data(), {T, q_width}), ctx.pool);
        const kernels::AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim, T, s.memory.size(),
                                            c.attention_scale(), c.attn_softcap};
        const auto attend = [&](const auto& scores) {
            s.memory.with_views([&](auto keys, auto values) {
                kernels::attention(shape, q.data(), q_width, keys, values, out.data(), q_width, scores, *ctx.arena,
                                   ctx.pool);
            });
        };
        if (s.padded)
            attend(Scores<true>{s.key_padding.data(), s.memory.size()});
        else
            attend(Scores<false>{nullptr, s.memory.size()});
        w.o.forward(TensorView<const float>(out.data(), {T, q_width}), residual, ctx.pool, Activation::identity, true);
    }
};

}  // namespace lamina
