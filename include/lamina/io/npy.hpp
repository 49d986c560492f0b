#pragma once
// write_npy: a float32 array in NumPy's .npy format (version 1.0: magic, little-endian u16 header length, a Python
// dict literal padded with spaces to a multiple of 64 bytes and ended by '\n', then the C-order data), so outputs
// load with numpy.load() anywhere.
#include "lamina/core/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>

namespace lamina {

inline void write_npy(const std::string& path, std::span<const float> data, std::span<const std::int64_t> shape) {
    std::int64_t n = 1;
    std::string dims;
    for (auto d : shape) {
        n *= d;
        dims += std::to_string(d) + ",";
    }
    if (shape.size() > 1) dims.pop_back();  // (T, V); a 1-D shape keeps its comma: (T,)
    LAMINA_CHECK(n == std::int64_t(data.size()), "write_npy: ", data.size(), " values for shape (", dims, ")");
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    LAMINA_CHECK(out.good(), path, ": cannot create (", std::strerror(errno), ")");
    const char magic[] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.write(magic, sizeof magic);
    const std::uint16_t len = std::uint16_t(header.size());
    const char len_le[] = {char(len & 0xFF), char(len >> 8)};
    out.write(len_le, 2);
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size_bytes()));  // x86/ARM: LE
    out.close();
    LAMINA_CHECK(!out.fail(), path, ": write failed");
}

}  // namespace lamina
