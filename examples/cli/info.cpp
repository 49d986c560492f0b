// lamina info --model DIR: what a model directory holds — preset, runtime config, parameter count, checkpoint dtypes,
// and every tensor the composed model declares with the checkpoint tensor it is read from. Nothing is loaded: the
// tensor list comes from the model's own weight declarations (WeightList), the names from the preset's table.
#include "commands.hpp"

#include <cstdio>
#include <map>

namespace lamina::cli {

namespace {

const char* file_dtype_name(FileDType t) {
    switch (t) {
        case FileDType::F64: return "F64";
        case FileDType::F32: return "F32";
        case FileDType::F16: return "F16";
        case FileDType::BF16: return "BF16";
        case FileDType::I64: return "I64";
        case FileDType::I32: return "I32";
        case FileDType::I16: return "I16";
        case FileDType::I8: return "I8";
        case FileDType::U8: return "U8";
        case FileDType::BOOL: return "BOOL";
    }
    return "?";
}

void print_config(const ModelConfig& c) {
    std::printf("config      d_model %d, layers %d, heads %d (kv %d, head_dim %d), d_ff %d, vocab %d, context %d\n",
                c.d_model, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.d_ff, c.vocab_size, c.max_positions);
    std::printf("            norm_eps %g, activation %s, biases qkv %d o %d mlp %d, tied head %d", c.norm_eps,
                std::string(activation_name(c.activation)).c_str(), c.qkv_bias, c.o_bias, c.mlp_bias, c.tie_embeddings);
    if (c.sliding_window) std::printf(", sliding window %d", c.sliding_window);
    if (c.n_experts) std::printf(", experts %d (top %d)", c.n_experts, c.experts_per_token);
    if (c.n_decoder_layers) std::printf(", decoder layers %d", c.n_decoder_layers);
    std::printf("\n            rope_theta %g", c.rope_theta);
    if (c.rope_scaling.kind == RopeScaling::Kind::linear) std::printf(" (linear scaling x%g)", c.rope_scaling.factor);
    if (c.rope_scaling.kind == RopeScaling::Kind::llama3)
        std::printf(" (llama3 scaling x%g from %d)", c.rope_scaling.factor, c.rope_scaling.original_max_positions);
    std::printf("\n");
}

std::string shape_string(const std::vector<std::int64_t>& s) { return Safetensors::shape_string(s); }

}  // namespace

int run_info(Args& args) {
    const auto dir = hf::ModelDir::open(args.require("model"));
    args.finish();
    hf::with_preset(dir, [&]<class P>(std::type_identity<P>) {
        using M = typename P::Model;
        const ModelConfig c = hf::model_config<P>(dir);
        const hf::CheckpointSource source(dir.checkpoint(), P::names());
        WeightList list([&](const std::string& name) { return source.has(name); });
        typename M::Weights weights;
        if constexpr (EncoderDecoderLm<M>)
            weights.visit(list, EncoderDecoderConfig(c));
        else
            weights.visit(list, c);

        std::map<std::string, std::int64_t> bytes_by_dtype;
        for (const auto& f : dir.checkpoint().files())
            for (const auto& [name, e] : f.tensors()) bytes_by_dtype[file_dtype_name(e.dtype)] += std::int64_t(e.bytes.size());
        std::printf("model       %s\n", dir.path().string().c_str());
        std::printf("preset      %s (model_type %s), %s\n", std::string(P::name).c_str(), dir.model_type().c_str(),
                    std::string(model_kind_name(model_kind_v<M>)).c_str());
        print_config(c);
        std::printf("parameters  %lld\n", static_cast<long long>(list.parameters()));
        std::printf("checkpoint  %zu file(s), %zu tensors;", dir.checkpoint().files().size(), dir.checkpoint().tensor_count());
        for (const auto& [dtype, bytes] : bytes_by_dtype) std::printf(" %s %.1f KiB", dtype.c_str(), double(bytes) / 1024);
        std::printf("\ntokenizer   %s\n", std::filesystem::exists(dir.path() / "tokenizer.json") ? "tokenizer.json"
                                          : std::filesystem::exists(dir.path() / "vocab.json")   ? "vocab.json + merges.txt"
                                                                                                 : "none");
        std::printf("tensors     (lamina path, shape <- checkpoint tensor, dtype)\n");
        for (const auto& t : list.tensors()) {
            if (t.tied) {
                std::printf("  %-36s %-12s (tied to the token embedding)\n", t.name.c_str(), shape_string(t.shape).c_str());
                continue;
            }
            const std::string hf_name = source.hf_name(t.name);
            const TensorEntry& e = dir.checkpoint().at(hf_name);
            std::printf("  %-36s %-12s <- %s %s %s\n", t.name.c_str(), shape_string(t.shape).c_str(), hf_name.c_str(),
                        file_dtype_name(e.dtype), shape_string(e.shape).c_str());
        }
    });
    return 0;
}

}  // namespace lamina::cli
