#pragma once
// Stacks: how n_layers blocks are arranged.
//   Repeat<B>              every layer is a B (Llama, GPT-2, BERT)
//   Pattern<B0, …, Bk>     layer i is B_(i mod (k+1)): hybrids such as Jamba-style "three Mamba layers then one
//                          attention layer", or alternating sliding-window and global attention layers.
//   LayerTypes<B0, …, Bk>  layer i is B_(config.layer_types[i]): hybrids whose arrangement is data, such as Bamba's
//                          attn_layer_indices, so one build runs every checkpoint of the family.
// Each layer keeps its own weights and state, except that the layers of a block type with a SharedFfn slot use the
// first such layer's FFN weights (layers/shared_ffn.hpp). The per-layer dispatch is a fold over the block types (one
// compare per type and layer), never a virtual call.
#include "lamina/models/block.hpp"
#include "lamina/models/layer_schedule.hpp"

#include <array>
#include <tuple>
#include <type_traits>
#include <utility>

namespace lamina {

namespace detail {

// The machinery shared by stacks whose layers are drawn from a list of block types. Derived::block_index(c, i) says
// which type layer i is; the layers of type J live, in layer order, in the J-th vector of weights and of states.
template <class Derived, class... Blocks>
struct LayerStack {
    static_assert(sizeof...(Blocks) > 0, "a layer stack needs at least one block type");
    static constexpr std::size_t n_types = sizeof...(Blocks);
    template <std::size_t J>
    using BlockAt = std::tuple_element_t<J, std::tuple<Blocks...>>;

    struct Weights {
        std::tuple<std::vector<typename Blocks::Weights>...> layers;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            for_each_layer(c, [&]<std::size_t J>(int i, std::size_t) {
                auto& vec = std::get<J>(layers);
                vec.emplace_back();
                if (vec.size() > 1) share_weights(vec.back(), vec.front());  // SharedFfn slots: the first layer's set
                vec.back().visit(v, path + "." + std::to_string(i), c);
            });
        }
    };
    using State = std::tuple<std::vector<typename Blocks::State>...>;

    static State make_state(const ModelConfig& c, std::int64_t capacity) { return make_state(c, capacity, capacity); }
    // Blocks that also hold state sized by a memory (a decoder's cross-attention K/V: the encoder's output) get
    // memory_capacity for it, apart from the positions' capacity.
    static State make_state(const ModelConfig& c, std::int64_t capacity, std::int64_t memory_capacity) {
        State s;
        for_each_layer(c, [&]<std::size_t J>(int, std::size_t) {
            if constexpr (requires { BlockAt<J>::make_state(c, capacity, memory_capacity); })
                std::get<J>(s).push_back(BlockAt<J>::make_state(c, capacity, memory_capacity));
            else
                std::get<J>(s).push_back(BlockAt<J>::make_state(c, capacity));
        });
        return s;
    }
    static void prepare(const ModelConfig& c, SharedTables& t) { (Blocks::prepare(c, t), ...); }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        return std::max({Blocks::scratch_bytes(c, T)...});
    }
    static constexpr bool runs_layer_schedules = true;
    static void forward(const Weights& w, const ModelConfig& c, State& s, TensorView<float> x, const ForwardContext& ctx) {
        run(w, c, s, x, ctx, {}, [](int, TensorView<const float>) { return false; });
    }

    // Runs the steps of a layer schedule (empty: every layer once, in order) over the residual stream x. After
    // each step k, observe(k, x) may return true to exit early: the remaining steps then only bring their state
    // up to date (Block::propagate). Returns the number of steps run in full.
    template <class Observe>
    static int run(const Weights& w, const ModelConfig& c, State& s, TensorView<float> x, const ForwardContext& ctx,
                   std::span<const LayerStep> steps, Observe&& observe) {
        const int n = steps.empty() ? c.n_layers : int(steps.size());
        int full = n;
        for (int e = 0; e < n; ++e) {
            const LayerStep step = steps.empty() ? LayerStep{e} : steps[std::size_t(e)];
            dispatch(c, step.layer, [&]<std::size_t J>(int i, std::size_t k) {
                const auto& weights = std::get<J>(w.layers)[k];
                auto& state = std::get<J>(s)[state_index<J>(c, steps, e, k)];
                using B = BlockAt<J>;
                if (e >= full) {
                    if constexpr (requires { B::propagate(weights, c, state, x, ctx); })
                        if (step.mixer) B::propagate(weights, c, state, x, ctx);
                } else if constexpr (requires { B::forward(weights, c, state, x, ctx, Sublayers{}); }) {
                    B::forward(weights, c, state, x, ctx, Sublayers{step.mixer, step.ffn});
                } else {
                    LAMINA_CHECK(step.mixer && step.ffn, "LayerSchedule: layer ", i, " cannot skip a sublayer");
                    B::forward(weights, c, state, x, ctx);
                }
            });
            if (e < full && e + 1 < n && observe(e, TensorView<const float>(x))) full = e + 1;
        }
        return full;
    }

    // The states a schedule needs besides the per-layer ones: one more per repeated occurrence of a layer.
    static void add_schedule_states(const ModelConfig& c, State& s, std::span<const LayerStep> steps,
                                    std::int64_t capacity) {
        for (const LayerStep& step : steps)
            if (step.occurrence > 0)
                dispatch(c, step.layer, [&]<std::size_t J>(int, std::size_t) {
                    std::get<J>(s).push_back(BlockAt<J>::make_state(c, capacity));
                });
    }

    // A batched decode step: row b of x is the next token of the sequence whose stack state is state(b).
    template <class StateOf>
    static void forward_batch(const Weights& w, const ModelConfig& c, StateOf&& state, TensorView<float> x,
                              const ForwardContext& ctx, std::span<const ForwardContext> rows) {
        for_each_layer(c, [&]<std::size_t J>(int, std::size_t k) {
            BlockAt<J>::forward_batch(std::get<J>(w.layers)[k], c,
                                      [&](std::size_t b) -> auto& { return std::get<J>(state(b))[k]; }, x, ctx, rows);
        });
    }

    // fn(std::type_identity<B>{}, weights, state) for every layer, grouped by block type (per-layer steps outside
    // the forward pass, such as handing the encoder's memory to each cross-attention).
    template <class Fn>
    static void each_layer(const Weights& w, State& s, Fn&& fn) {
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            (
                [&] {
                    const auto& ws = std::get<J>(w.layers);
                    auto& ss = std::get<J>(s);
                    for (std::size_t k = 0; k < ws.size(); ++k) fn(std::type_identity<BlockAt<J>>{}, ws[k], ss[k]);
                }(),
                ...);
        }(std::index_sequence_for<Blocks...>{});
    }
    // fn(std::type_identity<B>{}) for each block type B.
    template <class Fn>
    static void each_block_type(Fn&& fn) {
        (fn(std::type_identity<Blocks>{}), ...);
    }

private:
    // Calls fn.template operator()<J>(i, k) for layer i alone (a schedule's step), with J and k as below.
    template <class Fn>
    static void dispatch(const ModelConfig& c, int i, Fn&& fn) {
        const std::size_t j = Derived::block_index(c, i);
        std::size_t k = 0;
        for (int l = 0; l < i; ++l) k += Derived::block_index(c, l) == j;
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            ((j == J ? (fn.template operator()<J>(i, k), 0) : 0), ...);
        }(std::index_sequence_for<Blocks...>{});
    }

    // Where step e's state lives in the vector of its block type J: a layer's first occurrence uses the layer's
    // own state (index k among its type); later occurrences use the states add_schedule_states appended, in step
    // order, after the per-layer ones.
    template <std::size_t J>
    static std::size_t state_index(const ModelConfig& c, std::span<const LayerStep> steps, int e, std::size_t k) {
        if (steps.empty() || steps[std::size_t(e)].occurrence == 0) return k;
        std::size_t index = 0;
        for (int l = 0; l < c.n_layers; ++l) index += Derived::block_index(c, l) == J;
        for (int f = 0; f < e; ++f)
            index += steps[std::size_t(f)].occurrence > 0 && Derived::block_index(c, steps[std::size_t(f)].layer) == J;
        return index;
    }

    // Calls fn.template operator()<J>(i, k) for layers i = 0 … n_layers−1 in order, where J is layer i's block
    // type and k its index among the layers of that type.
    template <class Fn>
    static void for_each_layer(const ModelConfig& c, Fn&& fn) {
        std::array<std::size_t, n_types> next{};
        for (int i = 0; i < c.n_layers; ++i) {
            const std::size_t j = Derived::block_index(c, i);
            [&]<std::size_t... J>(std::index_sequence<J...>) {
                ((j == J ? (fn.template operator()<J>(i, next[J]++), 0) : 0), ...);
            }(std::index_sequence_for<Blocks...>{});
        }
    }
};

}  // namespace detail

template <class... Blocks>
struct Pattern : detail::LayerStack<Pattern<Blocks...>, Blocks...> {
    static constexpr int period = int(sizeof...(Blocks));
    static std::size_t block_index(const ModelConfig&, int i) { return std::size_t(i % period); }
};

// A stack of n_layers identical blocks.
template <class B>
using Repeat = Pattern<B>;

template <class... Blocks>
struct LayerTypes : detail::LayerStack<LayerTypes<Blocks...>, Blocks...> {
    static std::size_t block_index(const ModelConfig& c, int i) {
        LAMINA_CHECK(c.layer_types.size() == std::size_t(c.n_layers), "LayerTypes: config.layer_types has ",
                     c.layer_types.size(), " entries for ", c.n_layers, " layers");
        const int t = c.layer_types[std::size_t(i)];
        LAMINA_CHECK(t >= 0 && t < int(sizeof...(Blocks)), "LayerTypes: layer ", i, " has type ", t,
                     ", the stack has block types 0..", sizeof...(Blocks) - 1);
        return std::size_t(t);
    }
};

}  // namespace lamina
