#pragma once
// The fixture architectures the generation tests drive: the Llama-style decoder of tests/reference/decoder_only.py
// (llama_gqa) and the T5 v1.1 encoder-decoder of tests/reference/t5.py (t5_v11).
#include "lamina/models/encoder_decoder.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"

namespace lamina::test {

using LlamaArch = DecoderOnly<TokenEmbedding,
                              Repeat<Block<PreNorm, RmsNorm, Attention<Rope<RopeLayout::rotate_half>, Causal>, GatedMlp>>,
                              RmsNorm>;
using LlamaModel = Model<LlamaArch>;

using T5EncoderLayer = Block<PreNorm, RmsNorm, Attention<T5RelativeBias<true>, Bidirectional>, GatedMlp>;
using T5DecoderLayer = DecoderBlock<RmsNorm, Attention<T5RelativeBias<false>, Causal>, CrossAttention, GatedMlp>;
using T5Model = EncoderDecoderModel<EncoderDecoder<TokenEmbedding, Repeat<T5EncoderLayer>, Repeat<T5DecoderLayer>,
                                                   T5RelativeBias<true>, T5RelativeBias<false>>>;

// Reads an int64 tensor of a fixture (token ids, -1 separators).
inline std::vector<std::int64_t> int64s(const FixtureSource& src, const std::string& name) {
    const auto& e = src.file.at(name);
    std::vector<std::int64_t> out(std::size_t(e.numel()));
    std::memcpy(out.data(), e.bytes.data(), 8 * out.size());
    return out;
}

// The fixture of tests/reference/generate.py (prompts, expected generations and scores on llama_gqa) and its ids.
inline const FixtureSource& generate_fixture() {
    static const FixtureSource src("generate");
    return src;
}
inline std::vector<std::int32_t> generate_ids(const std::string& name) {
    const auto v = int64s(generate_fixture(), name);
    return {v.begin(), v.end()};
}

// The llama_gqa fixture model, loaded once per test binary.
inline const LlamaModel& llama_gqa() {
    static const FixtureSource src("llama_gqa");
    static const LlamaModel model(src.config(), src);
    return model;
}

}  // namespace lamina::test
