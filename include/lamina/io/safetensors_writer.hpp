#pragma once
// SafetensorsWriter: collects tensors and metadata, then writes one safetensors file in the layout the reader
// (io/safetensors.hpp) validates and tests/reference/common.py writes: tensors in name order, data contiguous,
// the JSON header padded with spaces to a multiple of 8 bytes.
#include "lamina/io/safetensors.hpp"

#include <cstdio>
#include <fstream>

namespace lamina {

class SafetensorsWriter {
public:
    // Copies `bytes`, which must be shape × the dtype's size.
    void add(const std::string& name, FileDType dtype, std::vector<std::int64_t> shape,
             std::span<const std::byte> bytes) {
        std::int64_t numel = 1;
        for (auto d : shape) numel *= d;
        const auto [dtype_name, size] = detail::file_dtype_info(dtype);
        LAMINA_CHECK(std::size_t(numel) * size == bytes.size(), "SafetensorsWriter: tensor \"", name, "\" has ",
                     bytes.size(), " bytes, shape ", Safetensors::shape_string(shape), " of ", dtype_name, " needs ",
                     std::size_t(numel) * size);
        LAMINA_CHECK(name != "__metadata__" && !tensors_.count(name), "SafetensorsWriter: tensor name \"", name,
                     "\" is reserved or already used");
        tensors_.emplace(name, Entry{dtype, std::move(shape), {bytes.begin(), bytes.end()}});
    }
    template <class T>
    void add(const std::string& name, FileDType dtype, std::vector<std::int64_t> shape, std::span<const T> values) {
        add(name, dtype, std::move(shape), std::as_bytes(values));
    }
    void set_metadata(const std::string& key, std::string value) { metadata_[key] = std::move(value); }

    void write(const std::string& path) const {
        nlohmann::json header = nlohmann::json::object();
        std::uint64_t offset = 0;
        for (const auto& [name, e] : tensors_) {
            header[name] = {{"dtype", detail::file_dtype_info(e.dtype).first},
                            {"shape", e.shape},
                            {"data_offsets", {offset, offset + e.bytes.size()}}};
            offset += e.bytes.size();
        }
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::string text = header.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        LAMINA_CHECK(out, path, ": cannot open for writing");
        char len[8];
        for (int i = 0; i < 8; ++i) len[i] = char((std::uint64_t(text.size()) >> (8 * i)) & 0xff);
        out.write(len, 8);
        out.write(text.data(), std::streamsize(text.size()));
        for (const auto& [name, e] : tensors_)
            out.write(reinterpret_cast<const char*>(e.bytes.data()), std::streamsize(e.bytes.size()));
        out.flush();
        LAMINA_CHECK(out, path, ": write failed");
    }

private:
    struct Entry {
        FileDType dtype;
        std::vector<std::int64_t> shape;
        std::vector<std::byte> bytes;
    };
    std::map<std::string, Entry> tensors_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace lamina
