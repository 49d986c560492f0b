#pragma once
// SharedFfn<Ffn>: a channel mixer whose weights are one set shared across layers (ALBERT-style cross-layer sharing,
// or a pattern such as "layers 2 and 4 reuse layer 0's FFN"). In a stack, every layer of a block type with a
// SharedFfn slot uses the weight set of the first layer of that type:
//   Repeat<Block<PreNorm, RmsNorm, Attn, SharedFfn<GatedMlp>>>                     every layer shares one FFN
//   Pattern<Block<…, SharedFfn<Mlp>>, Block<…, Mlp>>                               layers 0, 2, 4… share layer 0's
// The set is loaded once, lives once in memory, and is named once, under the first layer's path
// ("layers.0.ffn.up"), as PyTorch names a module reused by several layers; the later layers declare no tensors.
// The forward pass is Ffn's own, on the shared set.
#include "lamina/layers/context.hpp"
#include "lamina/layers/weights.hpp"

#include <memory>

namespace lamina {

template <class Ffn>
struct SharedFfn {
    struct Weights {
        std::shared_ptr<const typename Ffn::Weights> set;  // owned jointly by the layers that share it

        // Called by the stack (share_weights) on a later layer before it is visited.
        void share(const Weights& first) { set = first.set; }
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            if (set) return;  // another layer's set: loaded and named there
            auto own = std::make_shared<typename Ffn::Weights>();
            own->visit(v, path, c);
            set = std::move(own);
        }
    };
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t tokens) { return Ffn::scratch_bytes(c, tokens); }
    static void forward(const Weights& w, const ModelConfig& c, TensorView<const float> x, TensorView<float> residual,
                        const ForwardContext& ctx) {
        Ffn::forward(*w.set, c, x, residual, ctx);
    }
};

}  // namespace lamina
