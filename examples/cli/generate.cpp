// lamina generate --model DIR (--prompt TEXT | --ids 5,17,3) [-n 64] …: generates from a causal LM (the prompt
// continues) or an encoder-decoder (the prompt is the encoder input; the decoder starts from config.json's
// decoder_start_token_id), streaming the text as it is produced — token ids when the directory has no tokenizer.
// Greedy by default; --temperature/--top-k/--top-p/--seed sample, --beam N runs beam search (printed when done),
// --prompt-lookup N and --draft-model DIR decode speculatively (same tokens as plain greedy; causal LMs). Timing goes
// to stderr; with --print-ids the last stdout line is the generated ids.
#include "commands.hpp"

#include <chrono>
#include <cstdio>

namespace lamina::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// config.json's eos_token_id: an integer, a list of integers, or absent (generation then runs to -n tokens).
std::vector<std::int32_t> config_eos_ids(const hf::ConfigJson& config) {
    const auto& j = config.json();
    const auto it = j.find("eos_token_id");
    if (it == j.end() || it->is_null()) return {};
    const auto bad = [&] { lamina::detail::fail(config.where(), ": eos_token_id must be an integer or a list of them"); };
    if (it->is_number_integer()) return {it->get<std::int32_t>()};
    if (!it->is_array()) bad();
    std::vector<std::int32_t> ids;
    for (const auto& v : *it) {
        if (!v.is_number_integer()) bad();
        ids.push_back(v.get<std::int32_t>());
    }
    return ids;
}

struct Request {
    std::vector<std::int32_t> prompt;
    GenerationOptions options;
    std::int32_t beams = 0;          // 0: no beam search
    std::int32_t lookup = 0;         // --prompt-lookup: draft tokens per round
    std::optional<std::string> draft_dir;
    bool print_ids = false;
    const Tokenizer* tokenizer = nullptr;
    std::int32_t decoder_start = 0;  // encoder-decoders
    double load_seconds = 0;         // reported with the timing, after the run (stderr holds only the error on failure)
};

// Streams tokens to stdout as text (or ids without a tokenizer) and times them: the first token ends the prefill.
class Stream {
public:
    Stream(const Tokenizer* tokenizer, double load_seconds)
        : tokenizer_(tokenizer), load_seconds_(load_seconds), start_(Clock::now()) {}

    void operator()(std::int32_t id, std::string_view text) {
        if (count_++ == 0) first_ = Clock::now();
        if (tokenizer_)
            std::fwrite(text.data(), 1, text.size(), stdout);
        else
            std::printf("%d ", id);
        std::fflush(stdout);
    }

    // Ends the text line, prints the ids line if asked and the timing on stderr.
    void finish(std::span<const std::int32_t> ids, std::size_t prompt_tokens, bool print_ids, const char* reason) const {
        std::printf("\n");
        if (print_ids) print_id_line(ids);
        const double total = seconds_since(start_);
        const double ttft = count_ ? std::chrono::duration<double>(first_ - start_).count() : total;
        std::fprintf(stderr,
                     "lamina: loaded in %.2f s; %zu prompt tokens, %zu generated (%s); first token after %.1f ms, "
                     "then %.1f tokens/s\n",
                     load_seconds_, prompt_tokens, ids.size(), reason, ttft * 1e3,
                     ids.size() > 1 ? double(ids.size() - 1) / std::max(total - ttft, 1e-9) : 0.0);
    }

    static void print_id_line(std::span<const std::int32_t> ids) {
        for (std::size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    }

private:
    const Tokenizer* tokenizer_;
    double load_seconds_;
    Clock::time_point start_, first_;
    std::size_t count_ = 0;
};

template <class M>
void run_beams(const M& model, const Request& r, ThreadPool& pool) {
    const auto t0 = Clock::now();
    BeamSearch search(model, &pool);
    BeamSearchOptions o{.beams = r.beams, .max_new_tokens = r.options.stop.max_new_tokens, .eos_ids = r.options.stop.eos_ids};
    std::vector<BeamHypothesis> hyps;
    if constexpr (EncoderDecoderLm<M>)
        hyps = search.search(r.prompt, std::vector<std::int32_t>{r.decoder_start}, o);
    else
        hyps = search.search(r.prompt, o);
    LAMINA_CHECK(!hyps.empty(), "--beam: the search returned no hypothesis");
    const auto& best = hyps.front();
    if (r.tokenizer)
        std::printf("%s\n", r.tokenizer->decode(best.tokens).c_str());
    else
        Stream::print_id_line(best.tokens);
    if (r.print_ids) Stream::print_id_line(best.tokens);
    const double s = seconds_since(t0);
    std::fprintf(stderr, "lamina: loaded in %.2f s; beam search (%d beams): %zu tokens, score %.4f, %.3f s (%.1f tokens/s)\n",
                 r.load_seconds, r.beams, best.tokens.size(), double(best.score), s, double(best.tokens.size()) / std::max(s, 1e-9));
}

template <class M, class Drafter>
void run_speculative(const M& model, Drafter& drafter, std::int64_t k, const Request& r, ThreadPool& pool) {
    SpeculativeGenerator spec(model, drafter, k, &pool, r.tokenizer);
    Stream stream(r.tokenizer, r.load_seconds);
    const auto result = spec.generate(r.prompt, r.options, [&](std::int32_t id, std::string_view t) { stream(id, t); });
    stream.finish(result.tokens, r.prompt.size(), r.print_ids, stop_reason_name(result.reason));
    const auto& st = spec.stats();
    std::fprintf(stderr, "lamina: speculative: %lld rounds, acceptance %.2f, %.2f tokens per target pass\n",
                 static_cast<long long>(st.rounds), st.acceptance_rate(), st.tokens_per_round());
}

template <hf::Preset P>
void generate_with(const hf::ModelDir& dir, const hf::LoadOptions& load, Request& r, ThreadPool& pool) {
    using M = typename P::Model;
    if constexpr (EncoderOnly<M>) {
        lamina::detail::fail("generate: ", dir.path().string(), " holds an encoder (", P::name,
                             "), which does not generate text");
    } else {
        auto t0 = Clock::now();
        const M model = hf::load<P>(dir, load);
        r.load_seconds = seconds_since(t0);
        const bool speculative = r.lookup > 0 || r.draft_dir;
        LAMINA_CHECK(!(speculative && r.beams > 0), "--beam cannot be combined with --prompt-lookup or --draft-model");
        LAMINA_CHECK(!(r.lookup > 0 && r.draft_dir), "--prompt-lookup and --draft-model are alternatives; give one");
        if (r.beams > 0) return run_beams(model, r, pool);
        if constexpr (EncoderDecoderLm<M>) {
            LAMINA_CHECK(!speculative, "--prompt-lookup / --draft-model: speculative decoding needs a causal LM, not ",
                         P::name);
            Generator gen(model, &pool, r.tokenizer);
            Stream stream(r.tokenizer, r.load_seconds);
            const std::int32_t start[] = {r.decoder_start};
            const auto result =
                gen.generate(r.prompt, start, r.options, [&](std::int32_t id, std::string_view t) { stream(id, t); });
            stream.finish(result.tokens, r.prompt.size(), r.print_ids, stop_reason_name(result.reason));
        } else if (speculative) {
            if constexpr (RollbackModel<M>) {
                if (r.lookup > 0) {
                    PromptLookupDrafter lookup;
                    return run_speculative(model, lookup, r.lookup, r, pool);
                }
                const auto draft_dir = hf::ModelDir::open(*r.draft_dir);
                t0 = Clock::now();
                const M draft = hf::load<P>(draft_dir, load);  // same preset: one instantiation per architecture
                r.load_seconds += seconds_since(t0);
                LAMINA_CHECK(draft.config().vocab_size == model.config().vocab_size, "--draft-model: vocabulary of ",
                             draft.config().vocab_size, " tokens, the model's is ", model.config().vocab_size);
                ModelDrafter drafter(draft, &pool);
                return run_speculative(model, drafter, 4, r, pool);
            } else {
                lamina::detail::fail("speculative decoding needs a session that rolls back; ", P::name, "'s does not");
            }
        } else {
            Generator gen(model, &pool, r.tokenizer);
            Stream stream(r.tokenizer, r.load_seconds);
            const auto result = gen.generate(r.prompt, r.options, [&](std::int32_t id, std::string_view t) { stream(id, t); });
            stream.finish(result.tokens, r.prompt.size(), r.print_ids, stop_reason_name(result.reason));
        }
    }
}

}  // namespace

int run_generate(Args& args) {
    const auto dir = hf::ModelDir::open(args.require("model"));
    Request r;
    const auto text = args.get("prompt");
    LAMINA_CHECK(text.has_value() != args.get("ids").has_value(), "give one of --prompt TEXT and --ids 5,17,3");
    const auto tokenizer = dir.tokenizer();
    r.tokenizer = tokenizer ? &*tokenizer : nullptr;
    if (text) {
        LAMINA_CHECK(r.tokenizer, "--prompt: ", dir.path().string(), " has no tokenizer (tokenizer.json); use --ids");
        r.prompt = tokenizer->encode(*text);
        LAMINA_CHECK(!r.prompt.empty(), "--prompt: the text encodes to no tokens");
    } else {
        r.prompt = args.ids("ids");
    }
    r.options.stop.max_new_tokens = args.integer("n", 64, 1, 1 << 20);
    r.options.stop.eos_ids = config_eos_ids(dir.config_json());
    r.options.sampling.temperature = float(args.real("temperature", 0, 0, 100));
    r.options.sampling.top_k = std::int32_t(args.integer("top-k", 0, 0, 1 << 30));
    r.options.sampling.top_p = float(args.real("top-p", 1, 1e-6, 1));
    r.options.sampling.seed = std::uint64_t(args.integer("seed", 0, 0, std::numeric_limits<long long>::max()));
    r.beams = std::int32_t(args.integer("beam", 0, 1, 64));
    r.lookup = std::int32_t(args.integer("prompt-lookup", 0, 1, 64));
    r.draft_dir = args.get("draft-model");
    r.print_ids = args.flag("print-ids");
    r.decoder_start = dir.config_json().get<int>("decoder_start_token_id", 0);
    LAMINA_CHECK(!(r.beams > 0 && r.options.sampling.temperature > 0), "--beam searches deterministically; drop --temperature");
    const hf::LoadOptions load = load_options(args);
    ThreadPool pool(thread_count(args));
    args.finish();

    hf::with_preset(dir, [&]<class P>(std::type_identity<P>) { generate_with<P>(dir, load, r, pool); });
    return 0;
}

}  // namespace lamina::cli
