// Measurements for the training-free inference techniques that trade accuracy for work, against the full model:
//   KV eviction  per-layer key budgets with the L2-norm policy (and the recency-only baseline) on a retrieval-style
//                prompt — top-1 agreement and logit error of the following decode steps.
//   early exit   the top-probability and hidden-state-cosine criteria — layers run per token and top-1 agreement.
// Every run is teacher-forced with the full model's greedy tokens, so each step compares the same context.
//   usage: lamina_depth_report
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"

#include <cstdio>
#include <random>

using namespace lamina;

namespace {

using RopeHalf = Rope<RopeLayout::rotate_half>;
using Arch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Attention<RopeHalf, Causal>, GatedMlp>>, RmsNorm>;
using Session = Model<Arch>::Session;

std::int32_t argmax(const std::vector<float>& x) {
    return std::int32_t(std::max_element(x.begin(), x.end()) - x.begin());
}
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double err = 0, scale = 1e-30;
    for (std::size_t i = 0; i < a.size(); ++i)
        err = std::max(err, double(std::fabs(a[i] - b[i]))), scale = std::max(scale, double(std::fabs(b[i])));
    return err / scale;
}

// A retrieval-style prompt: `pairs` (key, value, separator) triples of random tokens, then a query key.
std::vector<std::int32_t> retrieval_prompt(int pairs, int vocab, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::int32_t> p, keys;
    for (int i = 0; i < pairs; ++i) {
        keys.push_back(std::int32_t(2 + rng() % std::uint32_t(vocab - 2)));
        p.insert(p.end(), {keys.back(), std::int32_t(2 + rng() % std::uint32_t(vocab - 2)), 1});
    }
    p.push_back(keys[rng() % keys.size()]);
    return p;
}

struct Agreement {
    int steps = 0, same_top1 = 0;
    double error = 0;
    long layers = 0;
};

// Decodes `steps` tokens greedily with `reference`, feeding the same tokens to `probe` through step(session, token,
// logits) -> layers run; compares the two logit rows at every step.
template <class Step>
Agreement compare(const Model<Arch>& m, Session& reference, Session& probe, std::span<const std::int32_t> prompt,
                  int steps, Step&& step) {
    const std::int64_t V = m.config().vocab_size;
    std::vector<float> ref(static_cast<std::size_t>(V)), got(static_cast<std::size_t>(V));
    m.forward(reference, prompt, TensorView<float>(ref.data(), {1, V}));
    m.forward(probe, prompt, TensorView<float>(got.data(), {1, V}));
    Agreement a;
    for (int t = 0; t < steps; ++t) {
        const std::int32_t token = argmax(ref);
        m.forward(reference, std::span(&token, 1), TensorView<float>(ref.data(), {1, V}));
        a.layers += step(probe, token, TensorView<float>(got.data(), {1, V}));
        ++a.steps;
        a.same_top1 += argmax(ref) == argmax(got);
        a.error += relative_error(got, ref);
    }
    return a;
}

}  // namespace

int main() try {
    ModelConfig c;
    c.d_model = 128, c.n_layers = 8, c.n_heads = 8, c.n_kv_heads = 4, c.head_dim = 16, c.d_ff = 256;
    c.vocab_size = 512, c.max_positions = 1024;
    const Model<Arch> m(c, RandomSource(17, 0.08f));
    const int steps = 48;

    std::printf("KV eviction: random-weight decoder (%d layers, d_model %d), retrieval prompt of 160 pairs (481 "
                "tokens), %d teacher-forced decode steps, 8 recent keys always kept\n",
                c.n_layers, c.d_model, steps);
    std::printf("| budget | policy | top-1 agreement | mean rel. logit error |\n|---|---|---|---|\n");
    const auto prompt = retrieval_prompt(160, c.vocab_size, 5);
    const auto plain_step = [&](Session& s, std::int32_t token, TensorView<float> out) {
        m.forward(s, std::span(&token, 1), out);
        return c.n_layers;
    };
    for (const std::int64_t budget : {32, 64, 128, 256}) {
        for (const auto& [name, keep] : {std::pair{"L2 norm (smallest)", KvKeepFn(keep_smallest_key_norms)},
                                         std::pair{"recent only", KvKeepFn(keep_most_recent_keys)}}) {
            auto reference = m.session(512), probe = m.session(512);
            probe.set_kv_eviction({budget, 8, keep});
            const Agreement a = compare(m, reference, probe, prompt, steps, plain_step);
            std::printf("| %lld | %s | %.1f%% | %.3f |\n", static_cast<long long>(budget), name,
                        100.0 * a.same_top1 / a.steps, a.error / a.steps);
        }
    }

    std::printf("\nEarly exit: the same decoder, a 64-token random prompt, %d teacher-forced decode steps\n", steps);
    std::printf("| criterion | threshold | layers run (of %d) | layers saved | top-1 agreement |\n|---|---|---|---|---|\n",
                c.n_layers);
    std::mt19937 rng(9);
    std::vector<std::int32_t> short_prompt(64);
    for (auto& t : short_prompt) t = std::int32_t(rng() % std::uint32_t(c.vocab_size));
    const auto report = [&](const char* name, float threshold, EarlyExit exit) {
        auto reference = m.session(64), probe = m.session(64);
        const Agreement a = compare(m, reference, probe, short_prompt, steps, [&](Session& s, std::int32_t token,
                                                                                  TensorView<float> out) {
            return m.forward_early_exit(s, token, out, exit);
        });
        const double run = double(a.layers) / a.steps;
        std::printf("| %s | %.2f | %.2f | %.1f%% | %.1f%% |\n", name, threshold, run,
                    100.0 * (1 - run / c.n_layers), 100.0 * a.same_top1 / a.steps);
    };
    for (const float p : {0.05f, 0.1f, 0.2f, 0.5f}) report("top-token probability", p, EarlyExit{2, p, 0.f});
    for (const float cos : {0.9f, 0.95f, 0.98f, 0.99f}) report("hidden-state cosine", cos, EarlyExit{2, 0.f, cos});
} catch (const Error& e) {
    std::fprintf(stderr, "lamina_depth_report: %s\n", e.what());
    return 1;
}
