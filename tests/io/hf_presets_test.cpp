// The BERT, T5, Mamba, Mamba-2 and Bamba presets on tiny checkpoints in Hugging Face layout
// (tests/reference/hf_bert_t5_ssm.py: config.json and model.safetensors with the hub's names, expected outputs from
// PyTorch reimplementations of the HF models), loaded through the generic hf::with_model; the BERT classification
// head; and the config errors of these families.
#include "hf_fixture.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace lamina;
using test::hf_fixture, test::load_error_edited;

namespace {

// Inputs and expected outputs of a fixture (expected.safetensors next to the checkpoint).
struct Expected : test::FixtureSource {
    explicit Expected(const std::string& name) : test::FixtureSource("hf/" + name + "/expected") {}
    std::vector<std::uint8_t> mask(const std::string& name) const {
        const auto m = ids(name);
        return {m.begin(), m.end()};
    }
    std::vector<float> values(const std::string& name) const { return read(name, {}); }
};

// What a fixture's model produced: its main output (logits of every input token, the encoder's last hidden state,
// or the decoder's logits for the teacher-forced target), the same computed one token per call through the caches
// (causal LMs and decoders), and 12 greedy tokens.
struct Outputs {
    ModelKind kind;
    std::vector<float> main, stepwise;
    std::vector<std::int32_t> greedy;
};

std::int32_t argmax(std::span<const float> row) {
    return std::int32_t(std::max_element(row.begin(), row.end()) - row.begin());
}

// One generic callable for every preset, so with_model is instantiated once for the whole list.
Outputs run(const std::string& name, DType dtype = DType::f32) {
    const Expected in(name);
    ThreadPool pool(2);
    return hf::with_model(hf_fixture(name), {.dtype = dtype}, [&](const auto& model) {
        using M = std::remove_cvref_t<decltype(model)>;
        Outputs o{model_kind_v<M>, {}, {}, {}};
        if constexpr (EncoderOnly<M>) {
            const auto ids = in.ids("input_ids"), types = in.ids("token_type_ids");
            const auto mask = in.mask("attention_mask");
            const std::int64_t T = std::int64_t(ids.size()), d = model.config().d_model;
            auto s = model.session(T);
            o.main.resize(std::size_t(T * d));
            model.forward(s, ids, TensorView<float>(o.main.data(), {T, d}), &pool,
                          {.token_types = types, .key_padding = mask});
        } else {
            const std::int64_t V = model.config().vocab_size;
            std::vector<float> row(static_cast<std::size_t>(V));
            const TensorView<float> last(row.data(), {1, V});
            auto s = model.session(64);
            // feed(tokens, out): the decoder side of the model (the whole model for a causal LM).
            std::vector<std::int32_t> prompt;
            if constexpr (EncoderDecoderLm<M>) {
                model.encode(s, in.ids("encoder_input_ids"), &pool);
                prompt = {0};  // decoder_start_token_id
            } else {
                prompt = in.ids("input_ids");
            }
            const auto target = EncoderDecoderLm<M> ? in.ids("decoder_input_ids") : prompt;
            const std::int64_t T = std::int64_t(target.size());
            o.main.resize(std::size_t(T * V));
            model.forward(s, target, TensorView<float>(o.main.data(), {T, V}), &pool);

            // The same target one token per call, through the caches.
            auto restart = [&] {
                if constexpr (EncoderDecoderLm<M>)
                    model.encode(s, in.ids("encoder_input_ids"), &pool);
                else
                    s.reset();
            };
            restart();
            for (const std::int32_t t : target) {
                model.forward(s, std::span(&t, 1), last, &pool);
                o.stepwise.insert(o.stepwise.end(), row.begin(), row.end());
            }

            restart();
            model.forward(s, prompt, last, &pool);
            while (o.greedy.size() < 12) {
                o.greedy.push_back(argmax(row));
                model.forward(s, std::span(&o.greedy.back(), 1), last, &pool);
            }
        }
        return o;
    });
}

// max |a − ref| ≤ 1e-4 · max |ref|: float32 weights, and the bf16 fixture's weights are exactly representable.
constexpr double kTolerance = 1e-4;

void check_generation(const std::string& name, ModelKind kind, const char* expected_main) {
    INFO(name);
    const Expected e(name);
    const Outputs o = run(name);
    CHECK(o.kind == kind);
    const auto ref = e.values(expected_main);
    REQUIRE(o.main.size() == ref.size());
    CHECK(test::relative_error(o.main, ref) <= kTolerance);
    CHECK(test::relative_error(o.stepwise, ref) <= kTolerance);
    CHECK(o.greedy == e.ids("greedy_ids"));
}

}  // namespace

TEST_CASE("HF BERT: last hidden state with token types and padding", "[hf][presets][golden]") {
    const Expected e("bert");
    const Outputs o = run("bert");
    CHECK(o.kind == ModelKind::encoder);
    const auto mask = e.mask("attention_mask");
    REQUIRE(std::count(mask.begin(), mask.end(), 0) > 0);  // the fixture does exercise padding
    CHECK(test::relative_error(o.main, e.values("expected_hidden")) <= kTolerance);
}

TEST_CASE("HF BertForSequenceClassification: bert. prefix, pooler and classifier", "[hf][presets][golden]") {
    const Expected e("bert_cls");
    CHECK(test::relative_error(run("bert_cls").main, e.values("expected_hidden")) <= kTolerance);

    const auto dir = hf::ModelDir::open(hf_fixture("bert_cls"));
    const auto model = hf::load<hf::Bert>(dir);
    REQUIRE(model.config().num_labels == 3);  // from id2label
    const auto head = hf::Bert::classifier(dir.checkpoint(), model.config());
    const auto ids = e.ids("input_ids"), types = e.ids("token_type_ids");
    const auto mask = e.mask("attention_mask");
    const std::int64_t T = std::int64_t(ids.size()), d = model.config().d_model;
    auto s = model.session(T);
    std::vector<float> hidden(std::size_t(T * d)), logits(3);
    model.forward(s, ids, TensorView<float>(hidden.data(), {T, d}), nullptr, {.token_types = types, .key_padding = mask});
    BertClassifier::forward(head, TensorView<const float>(hidden.data(), {T, d}), TensorView<float>(logits.data(), {1, 3}));
    CHECK(test::relative_error(logits, e.values("expected_logits")) <= kTolerance);
}

TEST_CASE("HF T5 v1.0: ReLU, tied head scaled by d_model^-1/2, 2 encoder and 3 decoder layers", "[hf][presets][golden]") {
    check_generation("t5_v10", ModelKind::encoder_decoder, "expected_logits");
}

TEST_CASE("HF T5 v1.1: gated GELU, untied head, 3 encoder and 2 decoder layers", "[hf][presets][golden]") {
    check_generation("t5_v11", ModelKind::encoder_decoder, "expected_logits");
}

TEST_CASE("HF Mamba: tied head, time_step_rank auto", "[hf][presets][golden]") {
    check_generation("mamba", ModelKind::causal_lm, "expected_logits");
}

TEST_CASE("HF Mamba-2 in bfloat16: n_groups 2, untied head", "[hf][presets][golden]") {
    check_generation("mamba2_bf16", ModelKind::causal_lm, "expected_logits");
    // Packing the bf16 weights as bf16 loses nothing; only the GEMM's own rounding differs.
    CHECK(test::relative_error(run("mamba2_bf16", DType::bf16).main, Expected("mamba2_bf16").values("expected_logits")) <=
          1e-2);
}

TEST_CASE("HF Bamba: attention at layers 1 and 4, GQA, partial rotary, SwiGLU", "[hf][presets][golden]") {
    check_generation("bamba", ModelKind::causal_lm, "expected_logits");
    const auto dir = hf::ModelDir::open(hf_fixture("bamba"));
    CHECK(hf::model_config<hf::Bamba>(dir).layer_types == std::vector<int>{0, 1, 0, 0, 1, 0});
}

TEST_CASE("HF presets of these families refuse configs they cannot run, naming the key", "[hf][presets][errors]") {
    using nlohmann::json;
    CHECK_THAT(load_error_edited("t5_v10", [](json& j) { j["feed_forward_proj"] = "gated-mish"; }),
               Catch::Contains("feed_forward_proj") && Catch::Contains("mish"));
    // Declared gated, stored as v1.0: the v1.1 preset is chosen and names the gate tensor the file lacks.
    CHECK_THAT(load_error_edited("t5_v10", [](json& j) { j["feed_forward_proj"] = "gated-gelu"; }),
               Catch::Contains("wi_0"));
    CHECK_THAT(load_error_edited("bert", [](json& j) { j["position_embedding_type"] = "relative_key"; }),
               Catch::Contains("position_embedding_type"));
    CHECK_THAT(load_error_edited("mamba", [](json& j) { j["use_bias"] = true; }), Catch::Contains("use_bias"));
    CHECK_THAT(load_error_edited("mamba2_bf16", [](json& j) { j["num_heads"] = 6; }),
               Catch::Contains("num_heads 6"));
    CHECK_THAT(load_error_edited("mamba2_bf16", [](json& j) { j["time_step_limit"] = {0.0, 0.5}; }),
               Catch::Contains("time_step_limit"));
    CHECK_THAT(load_error_edited("bamba", [](json& j) { j["attn_layer_indices"] = {1, 6}; }),
               Catch::Contains("attn_layer_indices entry 6"));
    // A layer listed as attention whose checkpoint holds Mamba weights: the missing tensor is named.
    CHECK_THAT(load_error_edited("bamba", [](json& j) { j["attn_layer_indices"] = {1, 3}; }),
               Catch::Contains("layers.3.self_attn.q_proj.weight"));
}
