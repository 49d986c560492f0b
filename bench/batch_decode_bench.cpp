// Batched decoding against sequential decoding: B sequences (prompts of different lengths) each advance one token
// per iteration, either with B single-token forward calls or with one Model::forward_batch. A decode step is bound by
// streaming the weights; the batch streams them once for all B rows (one GEMM instead of B GEMVs). Counter:
// tokens/s over all sequences.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"

#include <benchmark/benchmark.h>

using namespace lamina;

namespace {

using RopeHalf = Rope<RopeLayout::rotate_half>;
using Arch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Attention<RopeHalf, Causal>, GatedMlp>>, RmsNorm>;

const Model<Arch>& bench_model() {
    static const Model<Arch> m = [] {
        ModelConfig c;  // a small Llama-shaped decoder: 28M parameters, bf16 weights
        c.d_model = 768, c.n_layers = 4, c.n_heads = 12, c.n_kv_heads = 4, c.head_dim = 64, c.d_ff = 2048;
        c.vocab_size = 8000, c.max_positions = 1024;
        return Model<Arch>(c, RandomSource(3), DType::bf16);
    }();
    return m;
}

// Args: batch size B, threads; `batched` picks forward_batch or B forward calls.
void decode(benchmark::State& state, bool batched) {
    const Model<Arch>& m = bench_model();
    const std::size_t B = std::size_t(state.range(0));
    const std::int64_t V = m.config().vocab_size;
    ThreadPool pool(int(state.range(1)));
    std::vector<Model<Arch>::Session> sessions;
    std::vector<Model<Arch>::Session*> ptrs;
    std::vector<std::int32_t> tokens(B);
    std::vector<float> logits(B * std::size_t(V));
    for (std::size_t b = 0; b < B; ++b) {
        sessions.push_back(m.session(64));
        std::vector<std::int32_t> prompt(32 + 16 * b);
        for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t((i * 31 + b) % std::size_t(V));
        m.forward(sessions.back(), prompt, TensorView<float>(logits.data(), {1, V}), &pool);
        tokens[b] = std::int32_t(b);
    }
    for (auto& s : sessions) ptrs.push_back(&s);
    for (auto _ : state) {
        if (batched) {
            m.forward_batch(ptrs, tokens, TensorView<float>(logits.data(), {std::int64_t(B), V}), &pool);
        } else {
            for (std::size_t b = 0; b < B; ++b)
                m.forward(sessions[b], std::span(&tokens[b], 1),
                          TensorView<float>(logits.data() + b * std::size_t(V), {1, V}), &pool);
        }
        for (auto& s : sessions)
            if (s.position() > 900) s.truncate(64);
    }
    state.counters["tokens/s"] = benchmark::Counter(double(B), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_decode_sequential(benchmark::State& state) { decode(state, false); }
void BM_decode_batched(benchmark::State& state) { decode(state, true); }

}  // namespace

BENCHMARK(BM_decode_sequential)->ArgsProduct({{1, 4, 8, 16}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode_batched)->ArgsProduct({{1, 4, 8, 16}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
