#pragma once
// Shared by the libFuzzer targets: a reader that slices the fuzzer's bytes into typed values (running out yields
// zeros, so every input is valid to read), and the rule every target enforces — bad input may only ever surface as a
// lamina::Error. Any other exception escapes LLVMFuzzerTestOneInput, which libFuzzer reports as a crash.
#include "lamina/core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lamina::fuzz {

class FuzzInput {
public:
    FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    template <class T>
    T take() {
        T v{};
        const std::size_t n = std::min(sizeof(T), size_);
        std::memcpy(&v, data_, n);
        data_ += n;
        size_ -= n;
        return v;
    }
    std::string_view rest() const { return {reinterpret_cast<const char*>(data_), size_}; }
    std::size_t left() const { return size_; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
};

// Runs fn, swallowing lamina::Error (the expected outcome of malformed input) and nothing else.
template <class Fn>
void expect_only_lamina_errors(Fn&& fn) {
    try {
        fn();
    } catch (const lamina::Error&) {
    }
}

}  // namespace lamina::fuzz
