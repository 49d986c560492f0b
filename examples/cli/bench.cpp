// lamina bench --model DIR [--prompt-len 128] [--gen 64]: load time, prefill and decode speed (greedy, one
// sequence) and peak memory (getrusage's max RSS, load included). The prompt is synthetic (ids spread over the
// vocabulary). Encoders report the forward pass only; encoder-decoders encode the prompt and decode from config.json's
// decoder_start_token_id. Progress goes to stderr while a phase runs longer than a second.
#include "commands.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>

namespace lamina::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Tells stderr how far a phase is, at most once a second.
class Progress {
public:
    explicit Progress(const char* what) : what_(what), start_(Clock::now()), last_(start_) {}
    void step(std::int64_t done, std::int64_t total) {
        if (std::chrono::duration<double>(Clock::now() - last_).count() < 1.0) return;
        last_ = Clock::now();
        std::fprintf(stderr, "lamina: %s %lld/%lld (%.1f s)\n", what_, static_cast<long long>(done),
                     static_cast<long long>(total), seconds_since(start_));
    }

private:
    const char* what_;
    Clock::time_point start_, last_;
};

struct Plan {
    std::int64_t prompt_len, gen;
    std::int32_t decoder_start;
    int threads;
};

void row(const char* phase, std::int64_t tokens, double seconds) {
    std::printf("%-10s %lld tokens in %.3f s: %.1f tokens/s\n", phase, static_cast<long long>(tokens), seconds,
                double(tokens) / std::max(seconds, 1e-9));
}

std::int32_t argmax(std::span<const float> row) {
    return std::int32_t(std::max_element(row.begin(), row.end()) - row.begin());
}

// Greedy decode of `gen` tokens after `first`, timed; `step(token, logits)` runs one forward.
template <class Step>
void decode(std::int64_t gen, std::int32_t first, std::span<float> logits, Step&& step) {
    Progress progress("decoding");
    std::int32_t token = first;
    const auto t0 = Clock::now();
    for (std::int64_t i = 0; i < gen; ++i) {
        step(token, logits);
        token = argmax(logits);
        progress.step(i + 1, gen);
    }
    row("decode", gen, seconds_since(t0));
}

template <hf::Preset P>
void bench_with(const hf::ModelDir& dir, const hf::LoadOptions& load, const Plan& plan, ThreadPool& pool) {
    using M = typename P::Model;
    const ModelConfig c = hf::model_config<P>(dir, load);  // checked before the load, which can take long
    if constexpr (CausalLm<M>)
        LAMINA_CHECK(plan.prompt_len + plan.gen <= c.max_positions, "--prompt-len ", plan.prompt_len, " + --gen ",
                     plan.gen, " tokens exceed the model's context of ", c.max_positions);
    else
        LAMINA_CHECK(plan.prompt_len <= c.max_positions, "--prompt-len ", plan.prompt_len,
                     " tokens exceed the model's context of ", c.max_positions);
    if constexpr (EncoderDecoderLm<M>)
        LAMINA_CHECK(plan.gen <= c.max_positions, "--gen ", plan.gen, " exceeds the model's context of ", c.max_positions);
    std::fprintf(stderr, "lamina: loading %s\n", dir.path().string().c_str());
    const auto t0 = Clock::now();
    const M model = hf::load<P>(dir, load);
    const double load_s = seconds_since(t0);
    std::vector<std::int32_t> prompt(std::size_t(plan.prompt_len));
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t((i * 7919 + 13) % std::size_t(c.vocab_size));

    std::printf("model      %s, %s\n", std::string(P::name).c_str(), dir.path().string().c_str());
    std::printf("weights    %s%s%s\n",
                std::string(weight_format_name(load.quantize ? weight_format(*load.quantize) : weight_format(load.dtype))).c_str(),
                load.lm_head ? ", LM head " : "", load.lm_head ? std::string(weight_format_name(*load.lm_head)).c_str() : "");
    if (load.quantize)
        std::printf("activations %s (q8 products)\n", std::string(quant_activations_name(load.activations)).c_str());
    std::printf("kv cache   %s\n", load.kv_cache == KvPrecision::int8 ? "int8" : "f32");
    std::printf("threads    %d\n", pool.size());
    std::printf("load       %.3f s\n", load_s);
    std::fprintf(stderr, "lamina: prefill of %lld tokens\n", static_cast<long long>(plan.prompt_len));
    if constexpr (EncoderOnly<M>) {
        std::vector<float> hidden(std::size_t(plan.prompt_len * c.d_model));
        auto s = model.session(plan.prompt_len);
        const auto t1 = Clock::now();
        model.forward(s, prompt, TensorView<float>(hidden.data(), {plan.prompt_len, c.d_model}), &pool);
        row("forward", plan.prompt_len, seconds_since(t1));
    } else if constexpr (EncoderDecoderLm<M>) {
        std::vector<float> logits(std::size_t(c.vocab_size));
        auto s = model.session(1, plan.prompt_len);
        const auto t1 = Clock::now();
        model.encode(s, prompt, &pool);
        row("encode", plan.prompt_len, seconds_since(t1));
        decode(plan.gen, plan.decoder_start, logits, [&](std::int32_t token, std::span<float> out) {
            model.forward(s, std::span<const std::int32_t>(&token, 1), TensorView<float>(out.data(), {1, c.vocab_size}), &pool);
        });
    } else {
        std::vector<float> logits(std::size_t(c.vocab_size));
        auto s = model.session(plan.prompt_len);
        const auto t1 = Clock::now();
        model.forward(s, prompt, TensorView<float>(logits.data(), {1, c.vocab_size}), &pool);
        row("prefill", plan.prompt_len, seconds_since(t1));
        decode(plan.gen, argmax(logits), logits, [&](std::int32_t token, std::span<float> out) {
            model.forward(s, std::span<const std::int32_t>(&token, 1), TensorView<float>(out.data(), {1, c.vocab_size}), &pool);
        });
    }
    std::printf("peak RSS   %.1f MiB\n", peak_rss_mib());
}

}  // namespace

int run_bench(Args& args) {
    const auto dir = hf::ModelDir::open(args.require("model"));
    Plan plan{.prompt_len = args.integer("prompt-len", 128, 1, 1 << 20),
              .gen = args.integer("gen", 64, 0, 1 << 20),
              .decoder_start = dir.config_json().get<int>("decoder_start_token_id", 0),
              .threads = thread_count(args)};
    const hf::LoadOptions load = load_options(args);
    args.finish();
    ThreadPool pool(plan.threads);
    hf::with_preset(dir, [&]<class P>(std::type_identity<P>) { bench_with<P>(dir, load, plan, pool); });
    return 0;
}

}  // namespace lamina::cli
