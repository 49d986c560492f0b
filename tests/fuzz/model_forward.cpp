// Fuzz target: tiny models (random weights) driven by fuzzed calls — token ids (any int32, so out of range too),
// chunk lengths (zero, and past the context), session resets, truncations and forks. Every call either fails with a
// lamina::Error, leaving the session usable, or yields finite logits.
#include "fuzz_input.hpp"
#include "lamina/lamina.hpp"  // the whole library, as a user includes it (so clang-tidy sees every header)

#include <cmath>
#include <vector>

namespace {

using namespace lamina;

using Local = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, SlidingWindow>, GatedMlp>;
using Global = Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>;
using Transformer = DecoderOnly<TokenEmbedding, Pattern<Local, Global>, RmsNorm>;
using Ssm = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba, NoFfn>>, RmsNorm>;

ModelConfig tiny_config() {
    ModelConfig c;
    c.d_model = 16, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 4, c.d_ff = 24;
    c.vocab_size = 50, c.max_positions = 24, c.sliding_window = 5;
    c.ssm_state = 4, c.ssm_expand = 2, c.ssm_dt_rank = 2;
    return c;
}

template <class Arch>
void drive(const Model<Arch>& model, fuzz::FuzzInput& in) {
    const std::int64_t V = model.config().vocab_size;
    auto session = model.session(1 + in.take<std::uint8_t>() % 8);
    std::vector<float> logits;
    std::vector<std::int32_t> ids;
    for (int call = 0; call < 16 && in.left() > 0; ++call) {
        const auto op = in.take<std::uint8_t>();
        fuzz::expect_only_lamina_errors([&] {
            switch (op % 8) {
                case 0: session.reset(); break;
                case 1: session.truncate(std::int64_t(in.take<std::int8_t>())); break;
                case 2: session = typename Model<Arch>::Session(session); break;  // fork
                default: {
                    ids.resize(in.take<std::uint8_t>() % 32);
                    for (auto& id : ids) id = in.take<std::int8_t>() < 120 ? in.take<std::uint8_t>() % V
                                                                           : in.take<std::int32_t>();
                    const std::int64_t rows = (op & 0x80) ? std::int64_t(ids.size()) : 1;
                    logits.assign(std::size_t(rows * V), 0.f);
                    model.forward(session, ids, TensorView<float>(logits.data(), {rows, V}));
                    for (const float x : logits)
                        if (!std::isfinite(x)) __builtin_trap();  // random weights never overflow
                }
            }
        });
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Model<Transformer> transformer(tiny_config(), RandomSource(1, 0.2f));
    static const Model<Ssm> ssm(tiny_config(), RandomSource(2, 0.2f));
    fuzz::FuzzInput in(data, size);
    if (in.take<std::uint8_t>() & 1) drive(ssm, in);
    else drive(transformer, in);
    return 0;
}
