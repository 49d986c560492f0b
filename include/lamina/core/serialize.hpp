#pragma once
// Binary state I/O for session save/restore: plain values and arrays in host byte order, each read checked so a
// truncated or foreign stream becomes a lamina::Error that names what was being read, never garbage state.
#include "lamina/core/error.hpp"

#include <cstdint>
#include <istream>
#include <ostream>
#include <type_traits>

namespace lamina::serial {

template <class T>
void write_values(std::ostream& out, const T* data, std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(n * sizeof(T)));
    LAMINA_CHECK(out.good(), "session save: writing failed");
}
template <class T>
void write_value(std::ostream& out, const T& v) {
    write_values(out, &v, 1);
}

template <class T>
void read_values(std::istream& in, T* data, std::size_t n, const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    in.read(reinterpret_cast<char*>(data), std::streamsize(n * sizeof(T)));
    LAMINA_CHECK(in.gcount() == std::streamsize(n * sizeof(T)), "session restore: the stream ends inside ", what);
}
template <class T>
T read_value(std::istream& in, const char* what) {
    T v{};
    read_values(in, &v, 1, what);
    return v;
}

// Reads a value the restoring side already knows (a shape) and fails unless it matches.
template <class T>
void expect_value(std::istream& in, const T& expected, const char* what) {
    const T got = read_value<T>(in, what);
    LAMINA_CHECK(got == expected, "session restore: ", what, " is ", got, " in the stream but ", expected,
                 " in this model");
}

}  // namespace lamina::serial
