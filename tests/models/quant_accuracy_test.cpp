// Quantized models against the same model in f32 (tests/quant_accuracy.hpp): a random Llama-shaped model, the
// PyTorch llama_gqa fixture, the shipped kjv-llama toy model on held-out KJV text, and — when
// LAMINA_QUANT_ACCURACY_MODEL names a fixture-style file (lamina paths, config JSON in the metadata, an "input_ids"
// tensor) — any Llama-architecture model.
#include "lamina/io/hf/model_dir.hpp"
#include "lamina/io/hf/presets.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "model_fixture.hpp"
#include "quant_accuracy.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace lamina;

namespace {

using LlamaArch = DecoderOnly<TokenEmbedding,
                              Repeat<Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>>,
                              RmsNorm>;

ModelConfig random_llama_config() {
    ModelConfig c;
    c.d_model = 256;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.d_ff = 704;
    c.vocab_size = 512;
    c.max_positions = 128;
    return c;
}

std::vector<std::int32_t> random_tokens(std::size_t n, std::int32_t vocab) {
    std::mt19937 rng(7);
    std::vector<std::int32_t> t(n);
    for (auto& x : t) x = std::int32_t(rng() % std::uint32_t(vocab));
    return t;
}

void report(const char* what, WeightFormat f, const test::QuantAccuracy& a) {
    WARN(what << " " << weight_format_name(f) << ": relative logit error " << a.relative_error << ", top-1 agreement "
              << a.top1_agreement << ", perplexity " << a.perplexity << " vs " << a.reference_perplexity << " in f32");
}

// The targets for a trained model, on held-out `tokens`: q8 logits within 1% of max |logit| and the same
// 64 greedy tokens after each of `prompts`; q4 top-1 agreement ≥ 95% and perplexity at most 5% above f32's.
template <class M>
void check_trained_model(const char* what, const M& f32, const M& q8, const M& q4, std::span<const std::int32_t> tokens,
                         const std::vector<std::vector<std::int32_t>>& prompts, ThreadPool* pool) {
    const auto a8 = test::quantization_accuracy(f32, q8, tokens, pool);
    const auto a4 = test::quantization_accuracy(f32, q4, tokens, pool);
    report(what, WeightFormat::q8, a8);
    report(what, WeightFormat::q4, a4);
    CHECK(a8.relative_error <= 0.01);
    CHECK(a4.top1_agreement >= 0.95);
    CHECK(a4.perplexity <= 1.05 * a4.reference_perplexity);
    for (const auto& prompt : prompts) CHECK(test::greedy(f32, prompt, 64) == test::greedy(q8, prompt, 64));
}

}  // namespace

// Bounds sit just above what this build measures (the README's table): on a random model the logits have no dynamic
// range and a perturbation grows from layer to layer, so 8-bit rounding of the weights alone (activations exact)
// already moves them by 2.2% of max |logit| — every Linear kind contributes 0.5–1% on its own, MSE-optimal block
// scales lower the rounding error by 2% and keeping the LM head in f32 changes nothing measurable (README). The 1%
// goal is checked on the trained toy model below. A broken kernel lands near 100% error and chance agreement.
TEST_CASE("quantized random Llama-shaped model stays close to f32", "[models][quant]") {
    const ModelConfig c = random_llama_config();
    const RandomSource src(3, 0.05f);
    const auto tokens = random_tokens(96, c.vocab_size);
    ThreadPool pool(2);
    const auto q8 = test::quantization_accuracy<LlamaArch>(c, src, WeightFormat::q8, tokens, &pool);
    report("random Llama", WeightFormat::q8, q8);
    CHECK(q8.relative_error <= 0.035);
    CHECK(q8.top1_agreement >= 0.9);
    CHECK(std::fabs(q8.perplexity / q8.reference_perplexity - 1) <= 0.01);
    const auto q4 = test::quantization_accuracy<LlamaArch>(c, src, WeightFormat::q4, tokens, &pool);
    report("random Llama", WeightFormat::q4, q4);
    CHECK(q4.relative_error <= 0.4);
    CHECK(q4.top1_agreement >= 0.4);
    CHECK(std::fabs(q4.perplexity / q4.reference_perplexity - 1) <= 0.1);
}

TEST_CASE("quantized llama_gqa fixture tracks PyTorch's f32 logits", "[models][quant][golden]") {
    const test::FixtureSource src("llama_gqa");
    const auto ids = src.ids("input_ids");
    const auto expected = src.read("expected_logits", {});
    const Model<LlamaArch> model(src.config(), src, WeightFormat::q8);
    const auto logits = test::all_logits(model, ids, nullptr);
    CHECK(test::relative_error(logits, expected) <= 0.03);
    ThreadPool pool(2);
    report("llama_gqa", WeightFormat::q8, test::quantization_accuracy<LlamaArch>(src.config(), src, WeightFormat::q8, ids, &pool));
    report("llama_gqa", WeightFormat::q4, test::quantization_accuracy<LlamaArch>(src.config(), src, WeightFormat::q4, ids, &pool));
}

// examples/models/kjv-llama (bf16 weights, trained on the KJV) on two chapters its training never saw
// (tests/reference/kjv_held_out.py), tokenized with its own tokenizer.json.
TEST_CASE("quantized kjv-llama toy model meets the accuracy targets on held-out text", "[models][quant][toys]") {
    const auto dir = hf::ModelDir::open(std::string(LAMINA_EXAMPLE_MODELS_DIR) + "/kjv-llama");
    const auto tokenizer = dir.tokenizer();
    REQUIRE(tokenizer);
    std::ifstream in(std::string(LAMINA_FIXTURE_DIR) + "/text/kjv_held_out.txt");
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    const auto tokens = tokenizer->encode(text.str());
    REQUIRE(tokens.size() > 1500);
    const auto f32 = hf::load<hf::Llama>(dir);
    const auto q8 = hf::load<hf::Llama>(dir, {.quantize = QuantFormat::q8});
    const auto q4 = hf::load<hf::Llama>(dir, {.quantize = QuantFormat::q4});
    std::vector<std::vector<std::int32_t>> prompts;  // 16 tokens from four places in the text
    for (const std::size_t at : {0, 500, 1000, 1500}) prompts.emplace_back(tokens.begin() + at, tokens.begin() + at + 16);
    ThreadPool pool(2);
    check_trained_model("kjv-llama", f32, q8, q4, tokens, prompts, &pool);
}

TEST_CASE("quantized model given by LAMINA_QUANT_ACCURACY_MODEL", "[models][quant][external]") {
    const char* path = std::getenv("LAMINA_QUANT_ACCURACY_MODEL");
    if (!path) return;  // nothing to check without a model
    const test::FixtureSource src(Safetensors::open(path));
    const auto ids = src.ids("input_ids");
    const Model<LlamaArch> f32(src.config(), src), q8(src.config(), src, WeightFormat::q8),
        q4(src.config(), src, WeightFormat::q4);
    const std::vector<std::int32_t> prompt(ids.begin(), ids.begin() + std::min<std::ptrdiff_t>(8, std::ssize(ids)));
    ThreadPool pool(2);
    check_trained_model(path, f32, q8, q4, ids, {prompt}, &pool);
}
