// lamina: run Hugging Face checkpoints from the command line. `lamina <command> --model DIR …`; any failure is
// printed as one line, "lamina: error: …", with a non-zero exit status.
#include "commands.hpp"

#include <cstdio>
#include <exception>
#include <new>

using namespace lamina::cli;

namespace {

const Command commands[] = {
    {"info", "lamina info --model DIR", {}, run_info},
    {"forward", "lamina forward --model DIR --ids 5,17,3 [--decoder-ids 0,4] --out out.npy [--threads N] [--dtype f32|bf16] [--quantize q8|q4 [--lm-head FORMAT]] [--activations int8|int16] [--kv-cache f32|int8]",
     {}, run_forward},
    {"generate",
     "lamina generate --model DIR (--prompt TEXT | --ids 5,17,3) [-n 64] [--temperature T] [--top-k K] [--top-p P] "
     "[--seed S] [--beam N] [--prompt-lookup N] [--draft-model DIR] [--print-ids] [--threads N] [--quantize q8|q4] "
     "[--dtype f32|bf16] [--lm-head FORMAT] [--activations int8|int16] [--kv-cache f32|int8]",
     {"print-ids"}, run_generate},
    {"bench", "lamina bench --model DIR [--prompt-len 128] [--gen 64] [--threads N] [--quantize q8|q4 [--lm-head FORMAT]] [--activations int8|int16] [--dtype f32|bf16] [--kv-cache f32|int8]",
     {}, run_bench},
    {"quantize", "lamina quantize --model DIR --type q8|q4 --out DIR2", {}, run_quantize},
};

int usage(std::FILE* to) {
    std::fprintf(to, "usage:\n");
    for (const auto& c : commands) std::fprintf(to, "  %s\n", c.usage);
    return to == stdout ? 0 : 2;
}

int fail(const char* what) {
    std::fprintf(stderr, "lamina: error: %s\n", what);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage(stderr);
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") return usage(stdout);
    try {
        for (const auto& c : commands)
            if (name == c.name) {
                Args args(argc, argv, 2, c.switches);
                return c.run(args);
            }
        return fail(("unknown command \"" + name + "\" (try lamina --help)").c_str());
    } catch (const lamina::Error& e) {
        return fail(e.what());
    } catch (const std::bad_alloc&) {
        return fail("out of memory");
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
