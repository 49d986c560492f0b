// Fuzz target: encode and decode with the committed real-world tokenizers (GPT-2, Llama 2/3, Mistral, Qwen2). The
// first byte picks the tokenizer and the mode; the rest is the text (arbitrary bytes, so invalid UTF-8 too) or, in
// decode mode, ids (any int32, so out of range too). Encoded ids must be in range and decode without error.
#include "fuzz_input.hpp"
#include "lamina/io/token_stream_decoder.hpp"
#include "lamina/io/tokenizer.hpp"

#include <array>
#include <vector>

#ifndef LAMINA_FIXTURE_DIR
#error "LAMINA_FIXTURE_DIR must name tests/reference/fixtures"
#endif

namespace {
const std::array<lamina::Tokenizer, 5>& tokenizers() {
    static const auto all = [] {
        const std::string dir = std::string(LAMINA_FIXTURE_DIR) + "/tokenizers/";
        return std::array<lamina::Tokenizer, 5>{
            lamina::Tokenizer::from_file(dir + "gpt2/tokenizer.json"),
            lamina::Tokenizer::from_file(dir + "llama2/tokenizer.json"),
            lamina::Tokenizer::from_file(dir + "llama3/tokenizer.json"),
            lamina::Tokenizer::from_file(dir + "mistral/tokenizer.json"),
            lamina::Tokenizer::from_file(dir + "qwen2/tokenizer.json")};
    }();
    return all;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    lamina::fuzz::FuzzInput in(data, size);
    const auto mode = in.take<std::uint8_t>();
    const lamina::Tokenizer& tok = tokenizers()[mode % 5];
    if (mode & 0x80) {  // decode arbitrary ids, whole and streamed
        std::vector<std::int32_t> ids;
        while (in.left() > 0) ids.push_back(in.take<std::int32_t>() % (tok.vocab_size() + 8));
        lamina::fuzz::expect_only_lamina_errors([&] { (void)tok.decode(ids, (mode & 0x40) != 0); });
        lamina::TokenStreamDecoder stream(tok);
        lamina::fuzz::expect_only_lamina_errors([&] {
            for (const auto id : ids) (void)stream.push(id);
        });
        return 0;
    }
    lamina::fuzz::expect_only_lamina_errors([&] {
        const auto ids = tok.encode(in.rest(), (mode & 0x40) != 0);
        for (const auto id : ids)
            if (id < 0 || id >= tok.vocab_size()) __builtin_trap();  // encode produced an id outside the vocabulary
        (void)tok.decode(ids);
    });
    return 0;
}
