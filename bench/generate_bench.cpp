// Generation benchmarks on a random-weight Llama-style model big enough for decode to be memory-bound (8 layers,
// d_model 512, GQA 8/2 heads, SwiGLU 1536, vocab 8192, bf16: ~64 MB of weights read per decoded token).
//   BM_generate_plain         time to first token (prefill of a 128-token prompt) and decode tokens/s
//   BM_speculative_lookup/k   prompt-lookup drafting on a repetitive prompt (a 32-token phrase said 4 times)
//   BM_speculative_draft/k    a 2-layer draft model sharing the target's embedding, first 2 layers and head (the
//                             same source names the same tensors): layer-skipping self-speculation
//   BM_speculative_self/k/f  self-speculation: the target drafts for itself with layers f..7 skipped
//                             (self_speculative_drafter; f = 2 runs the same layers as the draft model)
//   BM_forward_tokens/T       one target forward over T tokens: the price of verifying T - 1 drafts
// Counters: decode_tok/s (after the first token; decode_tok/cpu_s per CPU second), ttft_ms, accept (accepted /
// drafted), tok/round. The speculative speedup is decode_tok/s over BM_generate_plain's on the same prompt.
#include "lamina/generate.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models.hpp"
#include "probes.hpp"

#include <benchmark/benchmark.h>

using namespace lamina;

namespace {

using LlamaArch = DecoderOnly<TokenEmbedding,
                              Repeat<Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>>,
                              RmsNorm>;
using Llama = Model<LlamaArch>;

ModelConfig config(int layers) {
    ModelConfig c;
    c.d_model = 512, c.n_layers = layers, c.n_heads = 8, c.n_kv_heads = 2, c.head_dim = 64, c.d_ff = 1536;
    c.vocab_size = 8192, c.max_positions = 1024;
    return c;
}

// Random weights whose layers from 2 on write 10× less into the residual stream (their output projections are
// damped): the situation layer-skipping self-speculation relies on, where late layers refine rather than decide.
// Names are the only input of RandomSource, so a 2-layer model from the same source is the target's first two
// layers, embedding, final norm and head.
struct DampedLateLayers {
    RandomSource base{11};
    bool has(const std::string&) const { return true; }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        auto v = base.read(name, shape);
        const bool late = name.starts_with("layers.") && std::stoi(name.substr(7)) >= 2;
        if (late && (name.ends_with("mixer.o.weight") || name.ends_with("ffn.down.weight")))
            for (auto& x : v) x *= 0.1f;
        return v;
    }
};

const Llama& target() {
    static const Llama m(config(8), DampedLateLayers{}, DType::bf16);
    return m;
}
const Llama& draft() {
    static const Llama m(config(2), DampedLateLayers{}, DType::bf16);
    return m;
}

// A 32-token phrase said four times: the repetitive input prompt lookup is for.
std::vector<std::int32_t> repetitive_prompt() {
    std::vector<std::int32_t> phrase, p;
    Rng rng(3);
    for (int i = 0; i < 32; ++i) phrase.push_back(std::int32_t(rng.next() % 8192));
    for (int r = 0; r < 4; ++r) p.insert(p.end(), phrase.begin(), phrase.end());
    return p;
}

constexpr std::int64_t kNewTokens = 256;

GenerationOptions options() {
    GenerationOptions o;
    o.stop.max_new_tokens = kNewTokens;
    return o;
}

// The cost of one target forward over T tokens at position 128 (T = 1: a decode step; T = k + 1: verifying k
// drafts). Speculative decoding pays off when this grows much slower than T.
void BM_forward_tokens(benchmark::State& state) {
    const std::int64_t T = state.range(0), V = target().config().vocab_size;
    auto session = target().session();
    const auto prompt = repetitive_prompt();
    std::vector<float> logits(std::size_t(T * V));
    target().forward(session, prompt, TensorView<float>(logits.data(), {1, V}));
    const std::vector<std::int32_t> tokens(std::size_t(T), 7);
    for (auto _ : state) {
        target().forward(session, tokens, TensorView<float>(logits.data(), {T, V}));
        session.truncate(std::int64_t(prompt.size()));
    }
}

// Runs generate(on_token) per iteration, timing the first token and the decode after it, in wall-clock time and in
// CPU time (generation runs on one thread here: on a shared machine the CPU time is what the wall time would be
// with a core to ourselves, see bench/probes.hpp).
template <class Generate>
void time_generation(benchmark::State& state, Generate&& generate) {
    bench::Elapsed ttft, decode;
    std::int64_t decoded = 0;
    for (auto _ : state) {
        const bench::Stopwatch start(1);
        bench::Elapsed first;
        std::int64_t n = 0;
        generate([&](std::int32_t, std::string_view) {
            if (n++ == 0) first = start.elapsed();
        });
        const bench::Elapsed all = start.elapsed();
        ttft += first;
        decode += {all.wall - first.wall, all.cpu - first.cpu};
        decoded += n - 1;
    }
    const auto iters = double(state.iterations());
    state.counters["ttft_ms"] = 1e3 * ttft.wall / iters;
    state.counters["decode_tok/s"] = double(decoded) / decode.wall;
    state.counters["decode_tok/cpu_s"] = double(decoded) / decode.cpu;
}

void BM_generate_plain(benchmark::State& state) {
    ThreadPool pool(int(state.range(0)));
    Generator gen(target(), &pool);
    const auto prompt = repetitive_prompt();
    time_generation(state, [&](auto on_token) { gen.generate(prompt, options(), on_token); });
}

template <class D>
void run_speculative(benchmark::State& state, D& drafter, ThreadPool& pool) {
    SpeculativeGenerator gen(target(), drafter, state.range(0), &pool);
    const auto prompt = repetitive_prompt();
    SpeculativeStats total;
    time_generation(state, [&](auto on_token) {
        gen.generate(prompt, options(), on_token);
        total.rounds += gen.stats().rounds, total.drafted += gen.stats().drafted, total.accepted += gen.stats().accepted;
    });
    state.counters["accept"] = total.acceptance_rate();
    state.counters["tok/round"] = total.tokens_per_round();
}

// Args: draft tokens, threads.
void BM_speculative_lookup(benchmark::State& state) {
    ThreadPool pool(int(state.range(1)));
    PromptLookupDrafter lookup(3);
    run_speculative(state, lookup, pool);
}

void BM_speculative_draft(benchmark::State& state) {
    ThreadPool pool(int(state.range(1)));
    ModelDrafter drafter(draft(), &pool);
    run_speculative(state, drafter, pool);
}

// Args: draft tokens, first skipped layer (layers from it to the last are skipped).
void BM_speculative_self(benchmark::State& state) {
    ThreadPool pool(1);
    std::vector<int> skipped;
    for (int i = int(state.range(1)); i < target().config().n_layers; ++i) skipped.push_back(i);
    auto drafter = self_speculative_drafter(target(), skipped, &pool);
    run_speculative(state, drafter, pool);
}

}  // namespace

BENCHMARK(BM_forward_tokens)->Arg(1)->Arg(2)->Arg(5)->Arg(9)->Arg(17)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_generate_plain)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_speculative_lookup)->Args({4, 1})->Args({8, 1})->Args({16, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_speculative_draft)->Args({2, 1})->Args({4, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_speculative_self)->Args({2, 2})->Args({4, 2})->Args({4, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
