// translate: an encoder-decoder (T5-style) model directory with beam search — the source ids (or text, with a
// tokenizer) are encoded once, the beams decode from config.json's decoder_start_token_id; every final hypothesis
// is printed with its score (sum of log-probabilities / length^length_penalty).
//   usage: translate MODEL_DIR [SOURCE] [BEAMS]     (SOURCE: text, or ids "5,17,3" when there is no tokenizer)
#include <lamina/lamina.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

using namespace lamina;

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: translate MODEL_DIR [SOURCE] [BEAMS]\n");
        return 2;
    }
    const auto dir = hf::ModelDir::open(argv[1]);
    const std::optional<Tokenizer> tokenizer = dir.tokenizer();
    const std::string source_text = argc > 2 ? argv[2] : (tokenizer ? "one two three" : "1,2,3");
    std::vector<std::int32_t> source;
    if (tokenizer) {
        source = tokenizer->encode(source_text);
        if (const auto eos = tokenizer->eos_id()) source.push_back(*eos);  // T5 inputs end with </s>
    } else {
        std::stringstream ids(source_text);
        for (std::string id; std::getline(ids, id, ',');) source.push_back(std::int32_t(std::stoi(id)));
    }
    BeamSearchOptions options;
    options.beams = argc > 3 ? std::atoi(argv[3]) : 4;
    options.max_new_tokens = 32;
    options.early_stopping = true;
    if (const auto eos = dir.config_json().optional<int>("eos_token_id")) options.eos_ids = {*eos};
    const std::int32_t start[] = {dir.config_json().get<int>("decoder_start_token_id", 0)};

    ThreadPool pool;
    hf::with_model(dir, {}, [&](const auto& model) {
        using M = std::remove_cvref_t<decltype(model)>;
        if constexpr (!EncoderDecoderLm<M>) {
            throw Error(std::string(argv[1]) + " is not an encoder-decoder model");
        } else {
            const auto t0 = std::chrono::steady_clock::now();
            BeamSearch search(model, &pool);
            const auto hyps = search.search(source, start, options);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("source: %s\n", source_text.c_str());
            for (const auto& h : hyps) {
                std::printf("%8.4f  ", double(h.score));
                if (tokenizer) std::printf("%s", tokenizer->decode(h.tokens, true).c_str());
                else for (const auto id : h.tokens) std::printf("%d ", id);
                std::printf("\n");
            }
            std::printf("%d beams in %.3f s\n", options.beams, s);
        }
    });
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "translate: %s\n", e.what());
    return 1;
}
