#pragma once
// Stacks: how n_layers blocks are arranged.
//   Repeat<B>           every layer is a B (Llama, GPT-2, BERT)
//   Pattern<B0, …, Bk>  layer i is B_(i mod (k+1)): hybrids such as Jamba-style "three Mamba layers then one
//                       attention layer", or alternating sliding-window and global attention layers.
// Each layer keeps its own weights and state; the per-layer dispatch of a Pattern is resolved at compile time per
// block type (a fold over the pattern), not through virtual calls.
#include "lamina/models/block.hpp"
#include "lamina/models/layer_schedule.hpp"

#include <tuple>
#include <utility>

namespace lamina {

template <class... Blocks>
struct Pattern {
    static_assert(sizeof...(Blocks) > 0, "Pattern: needs at least one block type");
    static constexpr int period = int(sizeof...(Blocks));
    template <std::size_t J>
    using BlockAt = std::tuple_element_t<J, std::tuple<Blocks...>>;

    // Layer i lives at index i / period of the vector for its block type i % period.
    struct Weights {
        std::tuple<std::vector<typename Blocks::Weights>...> layers;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            for_each_layer(c.n_layers, [&]<std::size_t J>(int i) {
                auto& vec = std::get<J>(layers);
                vec.emplace_back();
                vec.back().visit(v, path + "." + std::to_string(i), c);
            });
        }
    };
    using State = std::tuple<std::vector<typename Blocks::State>...>;

    static State make_state(const ModelConfig& c, std::int64_t capacity) {
        State s;
        for_each_layer(c.n_layers, [&]<std::size_t J>(int) {
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
            dispatch(step.layer, [&]<std::size_t J>(int i) {
                const auto& weights = std::get<J>(w.layers)[std::size_t(i / period)];
                auto& state = std::get<J>(s)[state_index<J>(c, steps, e)];
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
                dispatch(step.layer, [&]<std::size_t J>(int) {
                    std::get<J>(s).push_back(BlockAt<J>::make_state(c, capacity));
                });
    }

    // A batched decode step: row b of x is the next token of the sequence whose stack state is state(b).
    template <class StateOf>
    static void forward_batch(const Weights& w, const ModelConfig& c, StateOf&& state, TensorView<float> x,
                              const ForwardContext& ctx, std::span<const ForwardContext> rows) {
        for_each_layer(c.n_layers, [&]<std::size_t J>(int i) {
            const std::size_t k = std::size_t(i / period);
            BlockAt<J>::forward_batch(std::get<J>(w.layers)[k], c,
                                      [&](std::size_t b) -> auto& { return std::get<J>(state(b))[k]; }, x, ctx, rows);
        });
    }

private:
    // Calls fn.template operator()<J>(i) with J = i mod period, the block type of layer i.
    template <class Fn>
    static void dispatch(int i, Fn&& fn) {
        [&]<std::size_t... J>(std::index_sequence<J...>) {
            ((i % period == int(J) ? (fn.template operator()<J>(i), 0) : 0), ...);
        }(std::index_sequence_for<Blocks...>{});
    }
    // Calls fn.template operator()<J>(i) for layers i = 0 … n−1 in order.
    template <class Fn>
    static void for_each_layer(int n, Fn&& fn) {
        for (int i = 0; i < n; ++i) dispatch(i, fn);
    }

    // Where step e's state lives in the vector of its block type J: a layer's first occurrence uses the layer's
    // own state; later occurrences use the states add_schedule_states appended, in step order.
    template <std::size_t J>
    static std::size_t state_index(const ModelConfig& c, std::span<const LayerStep> steps, int e) {
        if (steps.empty() || steps[std::size_t(e)].occurrence == 0)
            return std::size_t((steps.empty() ? e : steps[std::size_t(e)].layer) / period);
        std::size_t index = std::size_t((c.n_layers - int(J) + period - 1) / period);  // layers of type J
        for (int f = 0; f < e; ++f)
            index += steps[std::size_t(f)].occurrence > 0 && steps[std::size_t(f)].layer % period == int(J);
        return index;
    }
};

// A stack of n_layers identical blocks.
template <class B>
using Repeat = Pattern<B>;

}  // namespace lamina
