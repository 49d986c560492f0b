// Fuzz target: the safetensors reader on arbitrary bytes — header length prefix, JSON header, offsets, shapes — and,
// when a file validates, converting each floating-point tensor (which reads exactly the bytes the header promised).
#include "fuzz_input.hpp"
#include "lamina/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    lamina::fuzz::expect_only_lamina_errors([&] {
        const auto st = lamina::Safetensors::from_bytes({reinterpret_cast<const std::byte*>(data), size}, "fuzz");
        for (const auto& kv : st.tensors())
            lamina::fuzz::expect_only_lamina_errors([&] { (void)st.to_f32(kv.first, kv.second.shape); });
    });
    return 0;
}
