// Quantized checkpoints (io/quantized_checkpoint.hpp): written from any TensorSource, loaded back to the very model
// that quantizing at load gives, refused when their format is unknown, and rejected when values and scales disagree.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/models/model.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <random>

using namespace lamina;

namespace {

using LlamaArch = DecoderOnly<TokenEmbedding,
                              Repeat<Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>>,
                              RmsNorm>;

ModelConfig small_config(bool tied) {
    ModelConfig c;
    c.d_model = 64;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 16;
    c.d_ff = 80;  // not a multiple of 32: the down projection has a padded last block
    c.vocab_size = 80;
    c.max_positions = 32;
    c.tie_embeddings = tied;
    return c;
}

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("lamina_quant_" + std::to_string(::getpid()) + "_" + name))
        .string();
}

std::vector<float> logits_of(const Model<LlamaArch>& m) {
    const std::int32_t ids[] = {1, 5, 9, 3, 70, 2};
    const std::int64_t V = m.config().vocab_size;
    auto s = m.session();
    std::vector<float> out(std::size(ids) * std::size_t(V));
    m.forward(s, ids, TensorView<float>(out.data(), {std::int64_t(std::size(ids)), V}));
    return out;
}

// Copies `from` to `to`, letting `edit` replace a tensor (return true after adding its own version) and the metadata.
void rewrite(const std::string& from, const std::string& to,
             const std::function<bool(const TensorEntry&, SafetensorsWriter&)>& edit,
             std::map<std::string, std::string> metadata) {
    const Safetensors f = Safetensors::open(from);
    SafetensorsWriter w;
    for (const auto& [name, e] : f.tensors())
        if (!edit(e, w)) w.add(name, e.dtype, e.shape, e.bytes);
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    w.write(to);
}

}  // namespace

TEST_CASE("a quantized checkpoint loads to the model that quantizing at load gives", "[io][quant]") {
    for (const bool tied : {false, true})
        for (const QuantFormat f : {QuantFormat::q8, QuantFormat::q4}) {
            const ModelConfig c = small_config(tied);
            const RandomSource src(11, 0.1f);
            const std::string path = temp_path("roundtrip.safetensors");
            quantize_checkpoint<LlamaArch>(c, src, f, path, {{"note", "test"}});

            const SafetensorsSource file(path);
            INFO(quant_format_name(f) << (tied ? " tied" : " untied"));
            REQUIRE(file.quantization() == f);
            CHECK(file.file().metadata().at("note") == "test");
            // Matrices as blocks + scales, the head q8 even under q4, norms and embeddings as F32.
            std::string q = ".";
            q += quant_format_name(f);
            CHECK(file.has("layers.0.mixer.q.weight" + q));
            CHECK(file.has("layers.1.ffn.down.weight.scales"));
            CHECK(!file.has("layers.0.mixer.q.weight"));
            CHECK(file.has("lm_head.weight.q8") == !tied);
            CHECK(file.file().at("final_norm.weight").dtype == FileDType::F32);
            CHECK(file.file().at("embed.tokens").dtype == FileDType::F32);

            const Model<LlamaArch> loaded(c, file);
            const Model<LlamaArch> at_load(c, src, weight_format(f));
            CHECK(loaded.weights().lm_head.format() == WeightFormat::q8);
            CHECK(std::get<0>(loaded.weights().layers.layers)[1].ffn.down.format() == weight_format(f));
            CHECK(logits_of(loaded) == logits_of(at_load));
            std::filesystem::remove(path);
        }
}

TEST_CASE("readers refuse quantized checkpoints they do not know", "[io][quant][errors]") {
    const ModelConfig c = small_config(false);
    const std::string path = temp_path("known.safetensors"), bad = temp_path("unknown.safetensors");
    quantize_checkpoint<LlamaArch>(c, RandomSource(1), QuantFormat::q8, path);
    // A plain f32 read of a quantized matrix names what it found.
    REQUIRE_THROWS_WITH(Safetensors::open(path).to_f32("layers.0.mixer.q.weight"),
                        Catch::Contains("\"layers.0.mixer.q.weight\" is stored quantized (\"layers.0.mixer.q.weight.q8\")"));
    auto keep = [](const TensorEntry&, SafetensorsWriter&) { return false; };
    rewrite(path, bad, keep, {{kQuantizationKey, "q3"}, {kQuantizationVersionKey, "1"}});
    REQUIRE_THROWS_WITH(SafetensorsSource(bad), Catch::Contains("quantized with format \"q3\" version 1, which this build "
                                                                "of lamina cannot read"));
    rewrite(path, bad, keep, {{kQuantizationKey, "q8"}, {kQuantizationVersionKey, "2"}});
    REQUIRE_THROWS_WITH(SafetensorsSource(bad), Catch::Contains("format \"q8\" version 2"));
    std::filesystem::remove(path);
    std::filesystem::remove(bad);
}

TEST_CASE("corrupt or mismatched scales are rejected when loading", "[io][quant][errors]") {
    const ModelConfig c = small_config(false);
    const std::string path = temp_path("good.safetensors"), bad = temp_path("bad.safetensors");
    quantize_checkpoint<LlamaArch>(c, RandomSource(2), QuantFormat::q4, path);
    const std::map<std::string, std::string> meta = {{kQuantizationKey, "q4"}, {kQuantizationVersionKey, "1"}};
    const std::string target = "layers.1.ffn.up.weight";
    auto load = [&] { return Model<LlamaArch>(c, SafetensorsSource(bad)); };

    // A NaN scale.
    rewrite(path, bad, [&](const TensorEntry& e, SafetensorsWriter& w) {
        if (e.name != target + ".scales") return false;
        std::vector<float> s(e.bytes.size() / 4);
        std::memcpy(s.data(), e.bytes.data(), e.bytes.size());
        s[5] = std::nanf("");
        w.add(e.name, e.dtype, e.shape, std::span<const float>(s));
        return true;
    }, meta);
    REQUIRE_THROWS_WITH(load(), Catch::Contains(target + "\": scale 5 (row 2, block 1) is nan"));

    // Scales of the wrong shape (one block short per row).
    rewrite(path, bad, [&](const TensorEntry& e, SafetensorsWriter& w) {
        if (e.name != target + ".scales") return false;
        const std::vector<float> s(std::size_t(e.shape[0]), 1.f);
        w.add(e.name, FileDType::F32, {e.shape[0], 1}, std::span<const float>(s));
        return true;
    }, meta);
    REQUIRE_THROWS_WITH(load(), Catch::Contains(".scales is F32 [80, 1], expected F32 [80, 2]"));

    // Scales stored as F16, values of the wrong dtype, and scales missing altogether.
    rewrite(path, bad, [&](const TensorEntry& e, SafetensorsWriter& w) {
        if (e.name != target + ".scales") return false;
        const std::vector<std::uint16_t> s(e.bytes.size() / 4, 0);
        w.add(e.name, FileDType::F16, e.shape, std::span<const std::uint16_t>(s));
        return true;
    }, meta);
    REQUIRE_THROWS_WITH(load(), Catch::Contains(".scales is F16 [80, 2], expected F32 [80, 2]"));
    rewrite(path, bad, [&](const TensorEntry& e, SafetensorsWriter& w) {
        if (e.name != target + ".q4") return false;
        w.add(e.name, FileDType::I8, e.shape, e.bytes);
        return true;
    }, meta);
    REQUIRE_THROWS_WITH(load(), Catch::Contains(".q4 is I8 [80, 32], expected U8 [80, 32]"));
    rewrite(path, bad, [&](const TensorEntry& e, SafetensorsWriter&) { return e.name == target + ".scales"; }, meta);
    REQUIRE_THROWS_WITH(load(), Catch::Contains("quantized values without \"" + target + ".scales\""));
    std::filesystem::remove(path);
    std::filesystem::remove(bad);
}

TEST_CASE("SafetensorsWriter output reads back", "[io]") {
    const std::string path = temp_path("writer.safetensors");
    SafetensorsWriter w;
    const float a[] = {1.f, -2.f, 3.5f};
    const std::int8_t b[] = {-128, 0, 127, 5};
    w.add("a", FileDType::F32, {3}, std::span<const float>(a));
    w.add("b", FileDType::I8, {2, 2}, std::span<const std::int8_t>(b));
    w.set_metadata("k", "v");
    REQUIRE_THROWS_WITH(w.add("c", FileDType::F32, {2}, std::span<const float>(a)),
                        Catch::Contains("has 12 bytes, shape [2] of F32 needs 8"));
    w.write(path);
    const Safetensors f = Safetensors::open(path);
    CHECK(f.to_f32("a") == std::vector<float>{1.f, -2.f, 3.5f});
    CHECK(f.at("b").shape == std::vector<std::int64_t>{2, 2});
    CHECK(std::memcmp(f.at("b").bytes.data(), b, 4) == 0);
    CHECK(f.metadata().at("k") == "v");
    std::filesystem::remove(path);
}
