// speculative: plain greedy decoding vs prompt-lookup vs draft-model speculative decoding of the same causal LM,
// side by side: all three produce the same tokens (greedy speculative decoding is lossless), so only the time and
// the number of target passes differ. The draft model (same architecture and vocabulary) defaults to the target.
//   usage: speculative MODEL_DIR [DRAFT_DIR] [PROMPT_IDS] [NEW_TOKENS]
#include <lamina/lamina.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

using namespace lamina;

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: speculative MODEL_DIR [DRAFT_DIR] [PROMPT_IDS] [NEW_TOKENS]\n");
        return 2;
    }
    const auto dir = hf::ModelDir::open(argv[1]);
    const auto draft_dir = hf::ModelDir::open(argc > 2 ? argv[2] : argv[1]);
    std::vector<std::int32_t> prompt;
    std::stringstream ids(argc > 3 ? argv[3] : "5,17,3,42,5,17,3,42");  // repetitive: prompt lookup finds drafts
    for (std::string id; std::getline(ids, id, ',');) prompt.push_back(std::int32_t(std::stoi(id)));
    GenerationOptions options;  // greedy
    options.stop.max_new_tokens = argc > 4 ? std::atoi(argv[4]) : 32;

    ThreadPool pool;
    hf::with_preset(dir, [&]<class P>(std::type_identity<P>) {
        using M = typename P::Model;
        if constexpr (!CausalLm<M> || !RollbackModel<M>) {
            throw Error(std::string(argv[1]) + ": speculative decoding needs a causal LM whose session rolls back");
        } else {
            const M model = hf::load<P>(dir);
            const M draft = hf::load<P>(draft_dir);
            double plain_s = 0;
            std::vector<std::int32_t> plain_tokens;
            const auto report = [&](const char* name, const GenerationResult& r, double s, const SpeculativeStats* st) {
                std::printf("%-14s %zu tokens in %.3f s (%.1f tokens/s, %.2fx)", name, r.tokens.size(), s,
                            double(r.tokens.size()) / s, plain_s / s);
                if (st) std::printf(", acceptance %.2f, %.2f tokens per target pass", st->acceptance_rate(), st->tokens_per_round());
                std::printf("%s\n", r.tokens == plain_tokens ? "" : "  (tokens differ from plain!)");
            };
            const auto timed = [](auto&& run) {
                const auto t0 = std::chrono::steady_clock::now();
                auto r = run();
                return std::pair(std::move(r), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            };
            Generator gen(model, &pool);
            auto [plain, s0] = timed([&] { return gen.generate(prompt, options); });
            plain_s = s0, plain_tokens = plain.tokens;
            report("plain", plain, s0, nullptr);

            PromptLookupDrafter lookup(3);
            SpeculativeGenerator by_lookup(model, lookup, 4, &pool);
            auto [r1, s1] = timed([&] { return by_lookup.generate(prompt, options); });
            report("prompt lookup", r1, s1, &by_lookup.stats());

            ModelDrafter drafter(draft, &pool);
            SpeculativeGenerator by_draft(model, drafter, 4, &pool);
            auto [r2, s2] = timed([&] { return by_draft.generate(prompt, options); });
            report("draft model", r2, s2, &by_draft.stats());
        }
    });
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "speculative: %s\n", e.what());
    return 1;
}
