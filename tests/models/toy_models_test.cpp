// The shipped toy models (examples/models/, trained by examples/train/) run through lamina exactly as PyTorch ran
// them: each directory's expected.json holds PyTorch's outputs on the stored weights, written by the training script.
#include "sanitized.hpp"
#include "test_util.hpp"

#include <lamina/lamina.hpp>
#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>
#include <fstream>

using namespace lamina;

namespace {

const std::string kModels = LAMINA_EXAMPLE_MODELS_DIR;

nlohmann::json expected(const std::string& model) {
    std::ifstream in(kModels + "/" + model + "/expected.json");
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

std::vector<std::int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int32_t>>(); }

// max |a − b| ≤ tol · max |b| over one row.
void check_row(std::span<const float> got, const std::vector<float>& want, float tol) {
    REQUIRE(got.size() == want.size());
    float err = 0.f, scale = 0.f;
    for (std::size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, std::abs(got[i] - want[i]));
        scale = std::max(scale, std::abs(want[i]));
    }
    INFO("max abs error " << err << ", max |reference| " << scale);
    CHECK(err <= tol * scale);
}

std::int32_t argmax(std::span<const float> v) {
    return std::int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

// Expected logits are PyTorch's f32 arithmetic on the stored bf16 weights, printed to 5 decimals.
constexpr float kTolerance = 1e-4f;

// The three KJV language models: logits on a held-out prompt, then a greedy continuation through the generator
// (prefill, then the KV cache or SSM state), no stop at EOS, as the training script ran it.
template <class Preset>
void check_kjv_model(const std::string& name) {
    const auto e = expected(name);
    const auto model = hf::load<Preset>(hf::ModelDir::open(kModels + "/" + name));
    const int V = model.config().vocab_size;
    const auto ids = ids_of(e["input_ids"]);
    const auto T = std::int64_t(ids.size());
    ThreadPool pool(2);

    auto s = model.session();
    std::vector<float> logits(std::size_t(T * V));
    model.forward(s, ids, TensorView<float>(logits.data(), {T, V}), &pool);
    const auto rows = e["logit_rows"].get<std::vector<int>>();
    for (std::size_t r = 0; r < rows.size(); ++r)
        check_row(std::span(logits).subspan(std::size_t(rows[r]) * std::size_t(V), std::size_t(V)),
                  e["logits"][r].get<std::vector<float>>(), kTolerance);

    Generator gen(model, &pool);
    GenerationOptions o;
    o.stop.max_new_tokens = int(e["greedy_ids"].size());
    CHECK(gen.generate(ids, o).tokens == ids_of(e["greedy_ids"]));
}

}  // namespace

TEST_CASE("toy kjv-llama: logits and greedy continuation match PyTorch", "[toys]") {
    check_kjv_model<hf::Llama>("kjv-llama");
}

TEST_CASE("toy kjv-mamba: logits and greedy continuation match PyTorch", "[toys]") {
    check_kjv_model<hf::Mamba>("kjv-mamba");
}

TEST_CASE("toy kjv-bamba (Mamba-2 / attention hybrid): logits and greedy continuation match PyTorch", "[toys]") {
    check_kjv_model<hf::Bamba>("kjv-bamba");
}

TEST_CASE("toy numbers-t5: decoder logits match PyTorch, greedy and beam answers are PyTorch's", "[toys]") {
    const auto e = expected("numbers-t5");
    const auto dir = hf::ModelDir::open(kModels + "/numbers-t5");
    const auto model = hf::load<hf::T5v11>(dir);
    const auto tokenizer = dir.tokenizer();
    REQUIRE(tokenizer);
    const int V = model.config().vocab_size;
    ThreadPool pool(2);

    const auto& lc = e["logits_case"];
    const auto src = ids_of(lc["input_ids"]), dec = ids_of(lc["decoder_input_ids"]);
    const auto D = std::int64_t(dec.size());
    auto s = model.session(D, std::int64_t(src.size()));
    model.encode(s, src, &pool);
    std::vector<float> logits(std::size_t(D * V));
    model.forward(s, dec, TensorView<float>(logits.data(), {D, V}), &pool);
    for (std::int64_t t = 0; t < D; ++t)
        check_row(std::span(logits).subspan(std::size_t(t * V), std::size_t(V)),
                  lc["logits"][std::size_t(t)].get<std::vector<float>>(), kTolerance);

    // Every held-out case decoded greedily and with beam search gives PyTorch's text; the accuracies follow. On one
    // thread: at d_model 128 a pool costs more than the matrices (its threads are tested elsewhere), and these 200
    // cases are the longest part of the suite, also under the sanitizers.
    Generator gen(model);
    BeamSearch beams(model);
    GenerationOptions o;
    o.stop.max_new_tokens = e["max_new_tokens"].get<int>();
    o.stop.eos_ids = {1};  // </s>; the decoder starts from <pad> = 0
    BeamSearchOptions b;
    b.beams = e["num_beams"].get<int>();
    b.max_new_tokens = o.stop.max_new_tokens;
    b.eos_ids = o.stop.eos_ids;
    const std::int32_t start[] = {0};
    // Under the sanitizers, ~10× slower, every 8th case: they look for memory errors, which any case exercises; the
    // regular build checks all 200 and the accuracy.
    const std::size_t stride = LAMINA_TEST_SANITIZED ? 8 : 1;
    const auto& cases = e["held_out"];
    int n = 0, greedy_right = 0, beam_right = 0, same_greedy = 0, same_beam = 0;
    for (std::size_t i = 0; i < cases.size(); i += stride, ++n) {
        const auto& c = cases[i];
        const auto input = ids_of(c["input_ids"]);
        const auto text = tokenizer->decode(gen.generate(input, start, o).tokens, true);
        const auto hyps = beams.search(input, start, b);
        const auto beam_text = tokenizer->decode(hyps.at(0).tokens, true);
        same_greedy += text == c["greedy"].get<std::string>();
        same_beam += beam_text == c["beam"].get<std::string>();
        greedy_right += text == c["expected"].get<std::string>();
        beam_right += beam_text == c["expected"].get<std::string>();
    }
    INFO("lamina greedy accuracy " << double(greedy_right) / n << ", beam " << double(beam_right) / n);
    CHECK(same_greedy == n);
    // The training script's beam search follows HF only approximately (its notes): allow a few differing texts.
    CHECK(same_beam >= int(0.95 * n));
    if (stride == 1) CHECK(double(greedy_right) / n == Approx(e["greedy_accuracy"].get<double>()).margin(1e-9));
}

TEST_CASE("toy sentiment-bert: classifier logits and held-out accuracy match PyTorch", "[toys]") {
    const auto e = expected("sentiment-bert");
    const auto dir = hf::ModelDir::open(kModels + "/sentiment-bert");
    const auto model = hf::load<hf::Bert>(dir);
    const auto head = hf::Bert::classifier(dir.checkpoint(), model.config());
    const int d = model.config().d_model, L = model.config().num_labels;
    ThreadPool pool(2);

    int right = 0, same = 0;
    const auto& cases = e["held_out"];
    std::vector<float> logits(static_cast<std::size_t>(L));
    for (const auto& c : cases) {
        const auto ids = ids_of(c["input_ids"]);
        const auto T = std::int64_t(ids.size());
        auto s = model.session(T);
        std::vector<float> hidden(std::size_t(T * d));
        model.forward(s, ids, TensorView<float>(hidden.data(), {T, d}), &pool);
        BertClassifier::forward(head, TensorView<const float>(hidden.data(), {T, d}),
                                TensorView<float>(logits.data(), {1, L}), &pool);
        check_row(logits, c["logits"].get<std::vector<float>>(), 1e-3f);
        const int label = argmax(logits);
        right += label == c["label"].get<int>();
        same += label == c["predicted"].get<int>();
    }
    CHECK(same == int(cases.size()));
    CHECK(double(right) / double(cases.size()) == Approx(e["accuracy"].get<double>()).margin(1e-9));
}
