// Hugging Face model directories (tests/reference/hf_checkpoints.py: tiny random checkpoints in HF layout, expected
// outputs from a PyTorch reimplementation of each HF model) loaded through hf::with_model, and the errors a broken
// directory gives.
#include "hf_fixture.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace lamina;
using test::hf_fixture, test::load_error, test::ScratchDir;
namespace fs = std::filesystem;

namespace {

// The causal-LM presets these fixtures exercise: the callables below only compile for causal LMs.
using CausalPresets = hf::PresetList<hf::Gpt2, hf::Llama, hf::Mistral, hf::Qwen2, hf::Mixtral>;

struct Expected {
    std::vector<std::int32_t> input_ids, prompt_ids, greedy_ids;
    std::vector<float> logits;
};

Expected expected(const std::string& name) {
    const auto file = Safetensors::open((hf_fixture(name) / "expected.safetensors").string());
    return {test::read_ids(file, "input_ids"), test::read_ids(file, "prompt_ids"), test::read_ids(file, "greedy_ids"),
            file.to_f32("logits")};
}

// Every position's logits in one forward pass.
template <class M>
std::vector<float> all_logits(const M& model, std::span<const std::int32_t> ids) {
    return test::logits_of(model, ids, std::int64_t(ids.size()));
}

// Prefill the prompt, then feed back the argmax one token at a time through the session's caches.
template <class M>
std::vector<std::int32_t> greedy(const M& model, std::span<const std::int32_t> prompt, std::size_t n) {
    const std::int64_t V = model.config().vocab_size;
    std::vector<float> row(static_cast<std::size_t>(V));
    const TensorView<float> last(row.data(), {1, V});
    auto s = model.session(16);
    model.forward(s, prompt, last);
    std::vector<std::int32_t> out;
    while (out.size() < n) {
        out.push_back(std::int32_t(std::max_element(row.begin(), row.end()) - row.begin()));
        model.forward(s, std::span(&out.back(), 1), last);
    }
    return out;
}

}  // namespace

TEST_CASE("HF checkpoints: logits and greedy ids match the PyTorch reference", "[io][hf][golden]") {
    for (const std::string name :
         {"gpt2", "gpt2_untied_f16", "llama_sharded", "llama_bf16_tied", "mistral_window", "qwen2_tied", "mixtral"}) {
        INFO(name);
        const Expected e = expected(name);
        hf::with_model<CausalPresets>(hf_fixture(name), {}, [&](const auto& model) {
            STATIC_REQUIRE(CausalLm<decltype(model)>);
            CHECK(test::relative_error(all_logits(model, e.input_ids), e.logits) <= 1e-4);
            CHECK(greedy(model, e.prompt_ids, e.greedy_ids.size()) == e.greedy_ids);
        });
    }
}

TEST_CASE("HF checkpoints packed as bf16", "[io][hf][golden]") {
    // A bf16 checkpoint holds bf16 values, so packing it as bf16 loses nothing beyond the kernels' rounding.
    const Expected tied = expected("llama_bf16_tied");
    hf::with_model<CausalPresets>(hf_fixture("llama_bf16_tied"), {.dtype = DType::bf16}, [&](const auto& model) {
        CHECK(test::relative_error(all_logits(model, tied.input_ids), tied.logits) <= 1e-4);
        CHECK(greedy(model, tied.prompt_ids, tied.greedy_ids.size()) == tied.greedy_ids);
    });
    // An f32 checkpoint rounded to bf16 at load: weights move by up to 2^-9 relative, logits by about 1%.
    const Expected f32 = expected("llama_sharded");
    hf::with_model<CausalPresets>(hf_fixture("llama_sharded"), {.dtype = DType::bf16}, [&](const auto& model) {
        CHECK(test::relative_error(all_logits(model, f32.input_ids), f32.logits) <= 2e-2);
    });
}

TEST_CASE("HF presets map config.json with the HF classes' defaults", "[io][hf]") {
    const auto dir = hf::ModelDir::open(hf_fixture("mistral_window"));
    CHECK(dir.model_type() == "mistral");
    const ModelConfig c = hf::model_config<hf::Mistral>(dir);
    CHECK(c.sliding_window == 4);
    CHECK(c.n_kv_heads == 2);
    CHECK(c.norm_eps == 1e-6f);

    ScratchDir scratch("mistral_window");
    auto j = scratch.config();
    for (const char* key : {"sliding_window", "num_key_value_heads", "rms_norm_eps", "rope_theta", "max_position_embeddings"})
        j.erase(key);
    j["num_attention_heads"] = 16;  // a multiple of the default 8 KV heads
    scratch.write_config(j);
    const ModelConfig d = hf::model_config<hf::Mistral>(hf::ModelDir::open(scratch.path));
    CHECK(d.sliding_window == 4096);  // MistralConfig defaults
    CHECK(d.n_kv_heads == 8);
    CHECK(d.norm_eps == 1e-6f);
    CHECK(d.rope_theta == 10000.f);
    CHECK(d.max_positions == 4096 * 32);
    j["sliding_window"] = nullptr;  // None: full attention
    scratch.write_config(j);
    CHECK(hf::model_config<hf::Mistral>(hf::ModelDir::open(scratch.path)).sliding_window == 0);

    const ModelConfig g = hf::model_config<hf::Gpt2>(hf::ModelDir::open(hf_fixture("gpt2")));
    CHECK(g.d_ff == 4 * 32);  // n_inner null
    CHECK(g.tie_embeddings);
    CHECK(g.activation == Activation::gelu_tanh);
    CHECK((g.qkv_bias && g.o_bias && g.mlp_bias));

    const ModelConfig l = hf::model_config<hf::Llama>(hf::ModelDir::open(hf_fixture("llama_sharded")));
    CHECK(l.rope_scaling.kind == RopeScaling::Kind::llama3);
    CHECK(l.rope_scaling.original_max_positions == 32);
    CHECK(hf::model_config<hf::Llama>(hf::ModelDir::open(hf_fixture("llama_sharded")), {.max_context = 16}).max_positions == 16);
    CHECK(hf::model_config<hf::Gpt2>(hf::ModelDir::open(hf_fixture("gpt2")), {.max_context = 16}).max_positions == 64);
}

TEST_CASE("HF model directories load their tokenizer", "[io][hf][tokenizer]") {
    const auto expected = nlohmann::json::parse(std::ifstream(fs::path(LAMINA_FIXTURE_DIR) / "tokenizers" / "expected.json"));
    for (const auto& [fixture, reference] : {std::pair{"gpt2", "gpt2/tokenizer.json"}, {"llama_sharded", "llama2/tokenizer.json"},
                                            {"qwen2_tied", "qwen2/tokenizer.json"}}) {
        INFO(fixture);
        const auto tok = hf::ModelDir::open(hf_fixture(fixture)).tokenizer();
        REQUIRE(tok.has_value());
        for (const auto& c : expected.at(reference))
            CHECK(tok->encode(c.at("text").get<std::string>()) == c.at("ids").get<std::vector<std::int32_t>>());
    }
    CHECK_FALSE(hf::ModelDir::open(hf_fixture("mixtral")).tokenizer().has_value());
}

TEST_CASE("a released tensor stays readable", "[io][hf]") {
    const auto file = Safetensors::open((hf_fixture("gpt2") / "model.safetensors").string());
    const auto before = file.to_f32("wte.weight");
    file.release("wte.weight");
    CHECK(file.to_f32("wte.weight") == before);
}

TEST_CASE("broken HF model directories give errors naming the key or tensor", "[io][hf][errors]") {
    using Catch::Matchers::Contains;
    CHECK_THAT(load_error(hf_fixture("no_such_model")), Contains("not a model directory"));
    {
        ScratchDir s("llama_bf16_tied");
        auto j = s.config();
        j["model_type"] = "llama9";
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("unknown model_type \"llama9\"") && Contains("config.json"));
        j.erase("model_type");
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("missing required key \"model_type\""));
        j["model_type"] = "llama";
        j.erase("hidden_size");
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("missing required key \"hidden_size\"") && Contains("config.json"));
        j["hidden_size"] = "32";
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("key \"hidden_size\" must be an integer, got \"32\""));
        j["hidden_size"] = 32;
        j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}};
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("rope_type") && Contains("yarn"));
        j.erase("rope_scaling");
        j["vocab_size"] = 97;  // the embedding on disk has 96 rows
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("\"model.embed_tokens.weight\" has shape [96, 32], expected [97, 32]") &&
                                           Contains("model.safetensors"));
        j["vocab_size"] = 96;
        j["tie_word_embeddings"] = false;  // the checkpoint has no lm_head.weight
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("missing tensor \"lm_head.weight\""));
        std::ofstream(s.path / "config.json") << "{\"model_type\": ";
        CHECK_THAT(load_error(s.path), Contains("config.json") && Contains("invalid JSON"));
    }
    {
        ScratchDir s("mixtral");  // a Llama config over Mixtral's tensors: no dense MLP
        auto j = s.config();
        j["model_type"] = "llama";
        s.write_config(j);
        CHECK_THAT(load_error(s.path), Contains("missing tensor \"model.layers.0.mlp.gate_proj.weight\""));
    }
    {
        ScratchDir s("llama_sharded");
        const auto index_path = s.path / "model.safetensors.index.json";
        auto index = nlohmann::json::parse(std::ifstream(index_path));
        index["weight_map"]["model.norm.weight"] = index["weight_map"]["model.norm.weight"] == "model-00001-of-00002.safetensors"
                                                       ? "model-00002-of-00002.safetensors"
                                                       : "model-00001-of-00002.safetensors";
        std::ofstream(index_path) << index.dump();
        CHECK_THAT(load_error(s.path), Contains("\"model.norm.weight\" is listed in"));
        index["weight_map"]["model.norm.weight"] = "../model.safetensors";
        std::ofstream(index_path) << index.dump();
        CHECK_THAT(load_error(s.path), Contains("not a file in the model directory"));
        fs::remove(index_path);
        CHECK_THAT(load_error(s.path), Contains("no model.safetensors or model.safetensors.index.json"));
    }
    {
        ScratchDir s("gpt2");  // a truncated checkpoint
        fs::resize_file(s.path / "model.safetensors", 1000);
        CHECK_THAT(load_error(s.path), Contains("model.safetensors"));
    }
}

TEST_CASE("model kinds tell generic code what a loaded model computes", "[io][hf]") {
    using Bidi = Block<PostNorm, LayerNorm, Attention<NoPositions, Bidirectional>, Mlp>;
    using Seq2Seq = EncoderDecoder<TokenEmbedding, Repeat<Bidi>, Repeat<DecoderBlock<RmsNorm, Attention<NoPositions, Causal>,
                                                                                  NoCrossAttention, Mlp>>>;
    STATIC_REQUIRE(CausalLm<hf::Gpt2::Model>);
    STATIC_REQUIRE(CausalLm<const hf::Mixtral::Model&>);
    STATIC_REQUIRE(EncoderOnly<Model<Encoder<BertEmbedding, Repeat<Bidi>, NoNorm>>>);
    STATIC_REQUIRE(EncoderDecoderLm<EncoderDecoderModel<Seq2Seq>>);
    STATIC_REQUIRE_FALSE(CausalLm<EncoderDecoderModel<Seq2Seq>>);
    CHECK(model_kind_name(model_kind_v<hf::Llama::Model>) == "causal LM");
}
