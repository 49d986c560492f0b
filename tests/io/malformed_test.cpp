// Malformed input gets a lamina::Error that names the file, key or tensor, and nothing else happens. The corpus lives
// in fixtures/malformed/<parser>/ (written by tests/reference/malformed.py, also the fuzzers' seeds): each folder's
// expected.json lists, per file, phrases its error must contain; the file name is always required. A new parser
// joins with one line in kParsers and a folder of files.
// Also here: truncation at every byte, non-finite weights (FiniteSource), and bad sizes, ids and lengths given
// through the API.
#include "lamina/io/tensor_sources.hpp"
#include "lamina/io/tokenizer.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"
#include "sanitized.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace lamina;

namespace {

template <class Fn>
std::string error_of(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no lamina::Error thrown)";
}

struct Parser {
    const char* folder;
    void (*load)(const std::string& path);
};
const Parser kParsers[] = {
    {"safetensors", [](const std::string& path) { (void)Safetensors::open(path); }},
    {"tokenizer", [](const std::string& path) { (void)Tokenizer::from_file(path); }},
};

std::filesystem::path malformed_dir() { return std::filesystem::path(LAMINA_FIXTURE_DIR) / "malformed"; }

// A well-formed file: an 8-byte length, the header, then `data`.
std::vector<std::byte> safetensors_bytes(const std::string& header, std::size_t data_bytes) {
    std::vector<std::byte> out(8 + header.size() + data_bytes, std::byte{0x3F});
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) out[std::size_t(i)] = std::byte(n & 0xFF);
    std::memcpy(out.data() + 8, header.data(), header.size());
    return out;
}

using LlamaArch = DecoderOnly<TokenEmbedding,
                              Repeat<Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>>,
                              RmsNorm>;

// A TensorSource that hands out one tensor with a non-finite value planted in it.
struct PoisonedSource {
    const test::FixtureSource& inner;
    std::string victim;
    float poison;
    bool has(const std::string& n) const { return inner.has(n); }
    std::vector<float> read(const std::string& n, std::span<const std::int64_t> shape) const {
        auto v = inner.read(n, shape);
        if (n == victim) v[v.size() / 2] = poison;
        return v;
    }
};

}  // namespace

TEST_CASE("every malformed corpus file is rejected with an error naming the file and what is wrong", "[malformed]") {
    for (const Parser& parser : kParsers) {
        const auto dir = malformed_dir() / parser.folder;
        std::ifstream in(dir / "expected.json");
        REQUIRE(in);
        const auto expected = nlohmann::json::parse(in);
        std::size_t files = 0;
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string();
            if (name == "expected.json") continue;
            INFO(parser.folder << "/" << name);
            CHECK(expected.contains(name));  // every file states what its error says
            ++files;
        }
        CHECK(files == expected.size());
        for (const auto& [name, phrases] : expected.items()) {
            const std::string msg = error_of([&, &name = name] { parser.load((dir / name).string()); });
            INFO(parser.folder << "/" << name << ": " << msg);
            CHECK_THAT(msg, Catch::Contains(name));
            for (const auto& phrase : phrases) CHECK_THAT(msg, Catch::Contains(phrase.get<std::string>()));
        }
    }
}

TEST_CASE("a safetensors file truncated at any byte is rejected, with the region named", "[malformed]") {
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
        R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[24,34]}})";
    const auto bytes = safetensors_bytes(header, 34);
    const auto whole = Safetensors::from_bytes(bytes, "t.safetensors");
    REQUIRE(whole.tensors().size() == 2);
    REQUIRE(whole.to_f32("b").size() == 5);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        const std::string msg = error_of([&] { Safetensors::from_bytes(std::span(bytes).first(n), "t.safetensors"); });
        INFO("truncated to " << n << " bytes: " << msg);
        CHECK_THAT(msg, Catch::StartsWith("t.safetensors: "));
        if (n < 8) CHECK_THAT(msg, Catch::Contains("too short"));
        else if (n < 8 + header.size()) CHECK_THAT(msg, Catch::Contains("header length"));
        else CHECK_THAT(msg, Catch::Contains("outside the " + std::to_string(n - 8 - header.size()) + " data bytes"));
    }
}

TEST_CASE("a real checkpoint cut short on disk names the path", "[malformed]") {
    const std::string source = std::string(LAMINA_FIXTURE_DIR) + "/llama_gqa.safetensors";
    std::ifstream in(source, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() > 1000);
    const auto path = std::filesystem::temp_directory_path() / "lamina_malformed_cut.safetensors";
    for (const std::size_t n : {std::size_t(5), std::size_t(200), bytes.size() - 1}) {
        std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(n));
        const std::string msg = error_of([&] { (void)SafetensorsSource(path.string()); });
        INFO(msg);
        CHECK_THAT(msg, Catch::Contains(path.string()));
    }
    std::filesystem::remove(path);
    CHECK_THAT(error_of([&] { (void)Safetensors::open(path.string()); }), Catch::Contains("cannot open"));
    CHECK_THAT(error_of([] { (void)Safetensors::open(std::filesystem::temp_directory_path().string()); }),
               Catch::Contains("not a regular file"));
}

TEST_CASE("FiniteSource reports NaN and infinite weights at load, naming the tensor", "[malformed]") {
    const test::FixtureSource src("llama_gqa");
    const ModelConfig c = src.config();
    for (const float poison : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()}) {
        const PoisonedSource poisoned{src, "layers.1.ffn.up.weight", poison};
        CHECK_NOTHROW(Model<LlamaArch>(c, poisoned));  // validation is opt-in
        const std::string msg = error_of([&] { Model<LlamaArch>(c, FiniteSource(poisoned, "llama_gqa.safetensors")); });
        INFO(msg);
        CHECK_THAT(msg, Catch::StartsWith("llama_gqa.safetensors: tensor \"layers.1.ffn.up.weight\" holds "));
        CHECK_THAT(msg, Catch::Contains(std::isnan(poison) ? "nan" : "inf"));
    }
    CHECK_NOTHROW(Model<LlamaArch>(c, FiniteSource(src)));
}

TEST_CASE("tokenizer input that is not UTF-8, and ids outside the vocabulary", "[malformed]") {
    const auto tok = Tokenizer::from_file(std::string(LAMINA_FIXTURE_DIR) + "/tokenizers/llama2/tokenizer.json");
    // Invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong form) either encodes through byte
    // fallback or fails with an error; ids stay in range.
    for (const std::string text : {"a\x80z", "caf\xC3", "\xC0\xAF", "\xED\xA0\x80"}) {
        try {
            for (const auto id : tok.encode(text)) CHECK((id >= 0 && id < tok.vocab_size()));
        } catch (const Error& e) {
            CHECK_THAT(e.what(), Catch::Contains("tokenizer.json"));
        }
    }
    for (const std::int32_t id : {-1, tok.vocab_size(), std::numeric_limits<std::int32_t>::max()}) {
        const std::vector<std::int32_t> ids{1, id};
        CHECK_THAT(error_of([&] { (void)tok.decode(ids); }), Catch::Contains("token id " + std::to_string(id)));
    }
}

TEST_CASE("zero, negative and oversized values through the API are errors naming the value", "[malformed]") {
    const test::FixtureSource src("llama_gqa");
    const Model<LlamaArch> model(src.config(), src);
    const std::int64_t V = model.config().vocab_size, ctx = model.config().max_positions;
    std::vector<float> logits(static_cast<std::size_t>(V));
    const TensorView<float> last(logits.data(), {1, V});

    CHECK_THAT(error_of([&] { (void)model.session(0); }), Catch::Contains("max_chunk must be positive, got 0"));
    CHECK_THAT(error_of([&] { (void)model.session(-3); }), Catch::Contains("got -3"));
    auto s = model.session();
    CHECK_THAT(error_of([&] { model.forward(s, {}, last); }), Catch::Contains("no tokens"));
    const std::int32_t negative[] = {-5};
    CHECK_THAT(error_of([&] { model.forward(s, negative, last); }), Catch::Contains("token id -5 at index 0"));
    CHECK(s.position() == 0);  // a rejected call leaves the session where it was
    const std::int32_t ok[] = {1, 2};
    std::vector<float> wrong(std::size_t(3 * V));
    CHECK_THAT(error_of([&] { model.forward(s, ok, TensorView<float>(wrong.data(), {3, V})); }),
               Catch::Contains("3 rows for 2 tokens"));
    CHECK_THAT(error_of([&] { model.forward(s, ok, TensorView<float>(wrong.data(), {1, V + 1})); }),
               Catch::Contains("columns"));
    CHECK_THAT(error_of([&] { s.truncate(-1); }), Catch::Contains("position -1"));

    // A prompt longer than the context.
    const std::vector<std::int32_t> prompt(std::size_t(ctx + 1), 1);
    CHECK_THAT(error_of([&] { model.forward(s, prompt, last); }),
               Catch::Contains("0 + " + std::to_string(ctx + 1) + " tokens exceed the context of " + std::to_string(ctx)));

    // Sizes in a config: negative or zero where a size is needed.
    const auto config_error = [&](auto&& edit) {
        ModelConfig c = src.config();
        edit(c);
        return error_of([&] { Model<LlamaArch>(c, RandomSource()); });
    };
    CHECK_THAT(config_error([](ModelConfig& c) { c.d_model = 0; }), Catch::Contains("d_model must be positive, got 0"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.vocab_size = -7; }), Catch::Contains("vocab_size"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.n_heads = -4; }), Catch::Contains("n_heads"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.n_kv_heads = 4; }), Catch::Contains("n_kv_heads (4)"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.d_ff = -1; }), Catch::Contains("d_ff"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.head_dim = -8; }), Catch::Contains("head_dim"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.sliding_window = -2; }), Catch::Contains("sliding_window"));
    CHECK_THAT(config_error([](ModelConfig& c) { c.max_positions = 0; }), Catch::Contains("max_positions"));

    CHECK_THAT(error_of([] { ThreadPool(-2); }), Catch::Contains("got -2"));
    CHECK_THAT(error_of([] { KvCache(0, 4, 16); }), Catch::Contains("must be positive"));
    CHECK_THAT(error_of([] { AlignedBuffer<float>(std::numeric_limits<std::size_t>::max() / 2); }),
               Catch::Contains("AlignedBuffer"));
    if (!LAMINA_TEST_SANITIZED)
        CHECK_THAT(error_of([] { AlignedBuffer<float>(std::size_t(1) << 60); }), Catch::Contains("cannot allocate"));
    float x[4];
    CHECK_THAT(error_of([&] { TensorView<float>(x, {2, -2}); }), Catch::Contains("negative size -2"));
}
