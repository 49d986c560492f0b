// Fuzz target: tokenizer.json loading on arbitrary text and, when it loads, a round of encode and decode over every
// id, so whatever tables a hostile file produced are exercised.
#include "fuzz_input.hpp"
#include "lamina/io/token_stream_decoder.hpp"
#include "lamina/io/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    lamina::fuzz::FuzzInput in(data, size);
    lamina::fuzz::expect_only_lamina_errors([&] {
        const auto tok = lamina::Tokenizer::from_json(in.rest(), "fuzz.json");
        lamina::fuzz::expect_only_lamina_errors([&] { (void)tok.encode("Hello wörld 123 \xF0\x9F\x98\x80 <s>", true); });
        lamina::TokenStreamDecoder stream(tok);
        for (std::int32_t id = 0; id < std::min(tok.vocab_size(), 512); ++id)
            lamina::fuzz::expect_only_lamina_errors([&] {
                (void)tok.decode(std::span(&id, 1));
                (void)stream.push(id);
            });
        (void)stream.flush();
    });
    return 0;
}
