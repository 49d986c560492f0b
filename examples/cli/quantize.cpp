// lamina quantize --model DIR --type q8|q4 --out DIR2: writes DIR2/model.safetensors, a quantized checkpoint under
// lamina's tensor names (io/quantized_checkpoint.hpp), and copies config.json and the tokenizer files, so DIR2 is a
// model directory every other command opens (the loader recognises the file by its metadata). Decoder-only and
// encoder models; the policy of which matrices are quantized is layers/weight_format.hpp's.
#include "commands.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace lamina::cli {

namespace {

template <class M>
struct ArchOf {};
template <class Arch>
struct ArchOf<Model<Arch>> {
    using type = Arch;
};

// Files that travel with the weights: the config and whatever tokenizer / generation settings the directory has.
constexpr const char* kCopied[] = {"config.json",           "generation_config.json", "tokenizer.json",
                                   "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                   "merges.txt"};

}  // namespace

int run_quantize(Args& args) {
    const auto dir = hf::ModelDir::open(args.require("model"));
    const QuantFormat format = quant_option("type", args.require("type"));
    const std::filesystem::path out = args.require("out");
    args.finish();
    const auto& files = dir.checkpoint().files();
    LAMINA_CHECK(!(files.size() == 1 && checkpoint_quantization(files.front())), dir.path().string(),
                 ": already a quantized checkpoint");
    std::error_code ec;
    LAMINA_CHECK(std::filesystem::weakly_canonical(out, ec) != std::filesystem::weakly_canonical(dir.path(), ec),
                 "--out: must not be the input directory");
    std::filesystem::create_directories(out, ec);
    LAMINA_CHECK(!ec && std::filesystem::is_directory(out), "--out: cannot create directory ", out.string(),
                 ec ? " (" + ec.message() + ")" : "");

    const auto t0 = std::chrono::steady_clock::now();
    hf::with_preset(dir, [&]<class P>(std::type_identity<P>) {
        if constexpr (requires { typename ArchOf<typename P::Model>::type; }) {
            const ModelConfig c = hf::model_config<P>(dir);
            const hf::CheckpointSource source(dir.checkpoint(), P::names());
            quantize_checkpoint<typename ArchOf<typename P::Model>::type>(
                c, source, format, (out / "model.safetensors").string(), {{"format", "pt"}});
        } else {
            lamina::detail::fail("quantize: ", P::name, " is an encoder-decoder; q8/q4 covers decoder-only and encoder models");
        }
    });
    for (const char* name : kCopied)
        if (std::filesystem::exists(dir.path() / name)) {
            std::filesystem::copy_file(dir.path() / name, out / name, std::filesystem::copy_options::overwrite_existing, ec);
            LAMINA_CHECK(!ec, "cannot copy ", name, " to ", out.string(), ": ", ec.message());
        }
    const auto in_bytes = [&] {
        std::uintmax_t n = 0;
        for (const auto& f : files) n += std::filesystem::file_size(f.name());
        return n;
    }();
    const auto out_bytes = std::filesystem::file_size(out / "model.safetensors");
    std::printf("wrote %s: %s, %.2f MiB (from %.2f MiB) in %.2f s\n", (out / "model.safetensors").string().c_str(),
                std::string(quant_format_name(format)).c_str(), double(out_bytes) / (1 << 20),
                double(in_bytes) / (1 << 20), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return 0;
}

}  // namespace lamina::cli
