#pragma once
// Safetensors reader (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the tensor bytes, offsets
// relative to the end of the header. The header is validated completely before any tensor is touched — offsets
// inside the file and non-overlapping, shape × dtype size equal to the byte length, known dtype, no duplicate keys —
// and every failure names the file and the tensor or key.
#include "lamina/core/convert.hpp"
#include "lamina/core/error.hpp"
#include "lamina/io/mapped_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace lamina {

enum class FileDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

struct TensorEntry {
    std::string name;
    FileDType dtype{};
    std::vector<std::int64_t> shape;
    std::span<const std::byte> bytes;
    std::int64_t numel() const {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

namespace detail {

inline constexpr std::pair<const char*, std::pair<FileDType, std::size_t>> kFileDTypes[] = {
    {"F64", {FileDType::F64, 8}}, {"F32", {FileDType::F32, 4}}, {"F16", {FileDType::F16, 2}},
    {"BF16", {FileDType::BF16, 2}}, {"I64", {FileDType::I64, 8}}, {"I32", {FileDType::I32, 4}},
    {"I16", {FileDType::I16, 2}}, {"I8", {FileDType::I8, 1}},   {"U8", {FileDType::U8, 1}},
    {"BOOL", {FileDType::BOOL, 1}}};

inline bool parse_file_dtype(const std::string& s, FileDType& out, std::size_t& size) {
    for (const auto& [name, v] : kFileDTypes)
        if (s == name) {
            out = v.first;
            size = v.second;
            return true;
        }
    return false;
}

// The header spelling of a dtype ("F32") and its element size.
inline std::pair<const char*, std::size_t> file_dtype_info(FileDType t) {
    for (const auto& [name, v] : kFileDTypes)
        if (v.first == t) return {name, v.second};
    return {"?", 0};
}

// Parses JSON refusing duplicate object keys and nesting deeper than a checkpoint header ever needs (a guard
// against stack exhaustion on hostile input). `what` names the source in errors.
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& what) {
    std::vector<std::set<std::string>> keys;
    auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (depth > 64) fail(what, ": JSON nested deeper than 64 levels");
        if (event == E::object_start) keys.emplace_back();
        if (event == E::object_end && !keys.empty()) keys.pop_back();
        if (event == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
            fail(what, ": duplicate key \"", parsed.get<std::string>(), "\"");
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), callback);
    } catch (const nlohmann::json::exception& e) {
        fail(what, ": invalid JSON (", e.what(), ")");
    }
}

}  // namespace detail

class Safetensors {
public:
    // Maps and validates a file.
    static Safetensors open(const std::string& path) {
        Safetensors st;
        st.file_ = std::make_shared<MappedFile>(path);
        st.parse(st.file_->bytes(), path);
        return st;
    }
    // Validates bytes owned by the caller (they must outlive the object); `name` appears in errors.
    static Safetensors from_bytes(std::span<const std::byte> bytes, const std::string& name) {
        Safetensors st;
        st.parse(bytes, name);
        return st;
    }

    const std::string& name() const { return name_; }
    const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& tensor) const { return tensors_.count(tensor) != 0; }

    const TensorEntry& at(const std::string& tensor) const {
        const auto it = tensors_.find(tensor);
        if (it == tensors_.end()) {
            // A matrix of a quantized checkpoint (io/quantized_checkpoint.hpp) is stored as "<name>.q8|q4" + scales.
            for (const char* q : {".q8", ".q4"})
                LAMINA_CHECK(!contains(tensor + q), name_, ": tensor \"", tensor, "\" is stored quantized (\"", tensor, q,
                             "\"); load the file through lamina::SafetensorsSource");
            detail::fail(name_, ": no tensor \"", tensor, "\"");
        }
        return it->second;
    }

    // Converts a floating-point tensor to f32, checking its shape when `expected` is given.
    std::vector<float> to_f32(const std::string& tensor, std::span<const std::int64_t> expected = {}) const {
        const TensorEntry& e = at(tensor);
        if (!expected.empty() && !std::equal(expected.begin(), expected.end(), e.shape.begin(), e.shape.end()))
            detail::fail(name_, ": tensor \"", tensor, "\" has shape ", shape_string(e.shape), ", expected ",
                         shape_string({expected.begin(), expected.end()}));
        std::vector<float> out(std::size_t(e.numel()));
        switch (e.dtype) {
            case FileDType::F32:
                if (!out.empty()) std::memcpy(out.data(), e.bytes.data(), e.bytes.size());  // null if empty
                break;
            case FileDType::F16: widen<f16>(e, out); break;
            case FileDType::BF16: widen<bf16>(e, out); break;
            case FileDType::F64:
                for (std::size_t i = 0; i < out.size(); ++i) {
                    double d;
                    std::memcpy(&d, e.bytes.data() + i * 8, 8);
                    out[i] = float(d);
                }
                break;
            default: detail::fail(name_, ": tensor \"", tensor, "\" is not floating point");
        }
        return out;
    }

    // Gives the mapped pages of a tensor back to the OS once it has been converted (see MappedFile::release); the
    // bytes stay readable. A no-op for from_bytes() objects, whose memory belongs to the caller.
    void release(const std::string& tensor) const {
        if (file_) file_->release(at(tensor).bytes);
    }

    static std::string shape_string(const std::vector<std::int64_t>& shape) {
        std::string s = "[";
        for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }

private:
    template <class T>
    static void widen(const TensorEntry& e, std::vector<float>& out) {
        if (out.empty()) return;  // memcpy from a null pointer is undefined even for 0 bytes
        std::vector<T> tmp(out.size());  // the mapped bytes need not be 2-byte aligned
        std::memcpy(tmp.data(), e.bytes.data(), e.bytes.size());
        convert(std::span<const T>(tmp), std::span<float>(out));
    }

    void parse(std::span<const std::byte> bytes, const std::string& name) {
        name_ = name;
        LAMINA_CHECK(bytes.size() >= 8, name, ": ", bytes.size(), " bytes is too short for a safetensors header");
        std::uint64_t header_len = 0;
        for (int i = 7; i >= 0; --i) header_len = header_len << 8 | std::uint64_t(bytes[std::size_t(i)]);
        LAMINA_CHECK(header_len <= bytes.size() - 8, name, ": header length ", header_len, " exceeds the ",
                     bytes.size() - 8, " bytes after the length prefix");
        const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, std::size_t(header_len));
        const nlohmann::json header = detail::parse_json_strict(text, name + " (header)");
        LAMINA_CHECK(header.is_object(), name, ": the header is not a JSON object");
        const auto data = bytes.subspan(8 + std::size_t(header_len));

        std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
        for (const auto& [key, value] : header.items()) {
            if (key == "__metadata__") {
                LAMINA_CHECK(value.is_object(), name, ": __metadata__ is not an object");
                for (const auto& [mk, mv] : value.items()) {
                    LAMINA_CHECK(mv.is_string(), name, ": __metadata__ value of \"", mk, "\" is not a string");
                    metadata_[mk] = mv.get<std::string>();
                }
                continue;
            }
            const std::string& tensor = key;  // clang < 16 cannot capture a structured binding
            auto bad = [&](const auto&... why) { detail::fail(name, ": tensor \"", tensor, "\": ", why...); };
            if (!value.is_object()) bad("entry is not an object");
            TensorEntry e;
            e.name = key;
            std::size_t elem = 0;
            const auto dt = value.find("dtype");
            if (dt == value.end() || !dt->is_string()) bad("missing or non-string dtype");
            if (!detail::parse_file_dtype(dt->get<std::string>(), e.dtype, elem))
                bad("unknown dtype \"", dt->get<std::string>(), "\"");
            const auto sh = value.find("shape");
            if (sh == value.end() || !sh->is_array()) bad("missing or non-array shape");
            // Every running product must fit an int64: TensorEntry::numel() recomputes it in that type, left to right.
            constexpr auto kMaxElements = std::uint64_t(std::numeric_limits<std::int64_t>::max());
            std::uint64_t numel = 1;
            for (const auto& d : *sh) {
                if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
                const std::uint64_t v = d.get<std::uint64_t>();
                if (v > kMaxElements || (v && numel > kMaxElements / v)) bad("shape ", sh->dump(), " overflows");
                numel *= v;
                e.shape.push_back(std::int64_t(v));
            }
            const auto off = value.find("data_offsets");
            if (off == value.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
                !(*off)[1].is_number_unsigned())
                bad("data_offsets must be two non-negative integers");
            const std::uint64_t begin = (*off)[0].get<std::uint64_t>(), end = (*off)[1].get<std::uint64_t>();
            if (begin > end || end > data.size())
                bad("data_offsets [", begin, ", ", end, "] are outside the ", data.size(), " data bytes");
            if (numel > std::numeric_limits<std::uint64_t>::max() / elem || end - begin != numel * elem)
                bad("holds ", end - begin, " bytes but shape ", sh->dump(), " of ", dt->get<std::string>(), " needs ",
                    numel > std::numeric_limits<std::uint64_t>::max() / elem ? std::string("more than 2^64")
                                                                             : std::to_string(numel * elem));
            e.bytes = data.subspan(std::size_t(begin), std::size_t(end - begin));
            ranges.emplace_back(begin, end);
            tensors_.emplace(key, std::move(e));
        }
        std::sort(ranges.begin(), ranges.end());
        std::uint64_t covered = 0;  // end of the furthest non-empty range so far
        for (const auto& [begin, end] : ranges) {
            if (begin == end) continue;
            LAMINA_CHECK(begin >= covered, name, ": tensor data ranges overlap at byte ", begin);
            covered = end;
        }
    }

    std::shared_ptr<MappedFile> file_;
    std::string name_;
    std::map<std::string, TensorEntry> tensors_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace lamina
