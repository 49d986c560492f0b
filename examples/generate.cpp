// generate: load a Hugging Face model directory and stream greedy text (token ids when the directory has no
// tokenizer), then the speed. Causal LMs continue the prompt; encoder-decoders translate it (the decoder starts from
// config.json's decoder_start_token_id).
//   usage: generate MODEL_DIR [PROMPT] [NEW_TOKENS]     (PROMPT: text, or ids "5,17,3" when there is no tokenizer)
#include <lamina/lamina.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

using namespace lamina;

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: generate MODEL_DIR [PROMPT] [NEW_TOKENS]\n");
        return 2;
    }
    const auto dir = hf::ModelDir::open(argv[1]);
    const std::optional<Tokenizer> tokenizer = dir.tokenizer();
    const std::string prompt_text = argc > 2 ? argv[2] : (tokenizer ? "The" : "1,2,3");
    std::vector<std::int32_t> prompt;
    if (tokenizer) {
        prompt = tokenizer->encode(prompt_text);
    } else {
        std::stringstream ids(prompt_text);
        for (std::string id; std::getline(ids, id, ',');) prompt.push_back(std::int32_t(std::stoi(id)));
    }
    GenerationOptions options;  // greedy
    options.stop.max_new_tokens = argc > 3 ? std::atoi(argv[3]) : 32;
    if (const auto eos = dir.config_json().optional<int>("eos_token_id")) options.stop.eos_ids = {*eos};

    ThreadPool pool;
    hf::with_model(dir, {}, [&](const auto& model) {
        using M = std::remove_cvref_t<decltype(model)>;
        if constexpr (EncoderOnly<M>) {
            std::fprintf(stderr, "%s is an encoder; it does not generate\n", argv[1]);
        } else {
            Generator gen(model, &pool, tokenizer ? &*tokenizer : nullptr);
            std::size_t count = 0;
            const auto t0 = std::chrono::steady_clock::now();
            const auto print = [&](std::int32_t id, std::string_view text) {
                ++count;
                if (tokenizer) std::printf("%.*s", int(text.size()), text.data());
                else std::printf("%d ", id);
                std::fflush(stdout);
            };
            if constexpr (EncoderDecoderLm<M>) {
                const std::int32_t start[] = {dir.config_json().get<int>("decoder_start_token_id", 0)};
                gen.generate(prompt, start, options, print);
            } else {
                std::printf("%s", prompt_text.c_str());
                gen.generate(prompt, options, print);
            }
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            std::printf("\n%zu tokens in %.3f s: %.1f tokens/s\n", count, s, double(count) / s);
        }
    });
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return 1;
}
