#pragma once
// hf::ConfigJson: typed access to a Hugging Face `config.json`. Presets map it to a ModelConfig with the defaults of
// the matching transformers configuration class; every failure — unreadable file, missing required key, a value of
// the wrong JSON type — is a lamina::Error naming the file and the key. JSON null means "unset" (HF writes None as
// null), so it takes the default like an absent key.
#include "lamina/io/mapped_file.hpp"
#include "lamina/io/safetensors.hpp"  // detail::parse_json_strict
#include "lamina/kernels/activation.hpp"
#include "lamina/models/config.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace lamina::hf {

class ConfigJson {
public:
    // `where` names the source in errors ("DIR/config.json", or "DIR/config.json: rope_scaling" for a nested object).
    ConfigJson(nlohmann::json json, std::string where) : json_(std::move(json)), where_(std::move(where)) {
        LAMINA_CHECK(json_.is_object(), where_, ": expected a JSON object");
    }
    static ConfigJson open(const std::string& path) {
        const MappedFile file(path);
        const auto bytes = file.bytes();
        const std::string text = quote_python_literals(
            std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        return ConfigJson(detail::parse_json_strict(text, path), path);
    }

    // Python's json.dump writes float('inf') and nan as the bare words Infinity, -Infinity and NaN, which JSON has
    // no syntax for (Mamba-2 configs hold "time_step_limit": [0.0, Infinity]); outside strings they become the
    // strings "Infinity", "-Infinity" and "NaN", so the file parses and a preset can still tell what was written.
    static std::string quote_python_literals(std::string_view text) {
        std::string out;
        out.reserve(text.size());
        bool in_string = false;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const char ch = text[i];
            if (in_string) {
                out += ch;
                if (ch == '\\' && i + 1 < text.size()) out += text[++i];
                else if (ch == '"') in_string = false;
                continue;
            }
            if (ch == '"') in_string = true;
            bool quoted = false;
            for (const std::string_view word : {"-Infinity", "Infinity", "NaN"}) {
                if (text.substr(i, word.size()) == word) {
                    ((out += '"') += word) += '"';
                    i += word.size() - 1;
                    quoted = true;
                    break;
                }
            }
            if (!quoted) out += ch;
        }
        return out;
    }

    const std::string& where() const { return where_; }
    const nlohmann::json& json() const { return json_; }
    bool has(const char* key) const { return json_.contains(key) && !json_[key].is_null(); }

    // The value of `key` as T (int, float, bool, std::string), or nothing when absent or null.
    template <class T>
    std::optional<T> optional(const char* key) const {
        if (!has(key)) return std::nullopt;
        const nlohmann::json& v = json_[key];
        if constexpr (std::is_same_v<T, bool>) {
            check(v.is_boolean(), key, "a boolean", v);
        } else if constexpr (std::is_integral_v<T>) {
            check(v.is_number_integer(), key, "an integer", v);
            const auto i = v.get<std::int64_t>();
            check(i >= std::numeric_limits<T>::min() && i <= std::numeric_limits<T>::max(), key, "a smaller integer", v);
        } else if constexpr (std::is_floating_point_v<T>) {
            check(v.is_number(), key, "a number", v);
        } else {
            static_assert(std::is_same_v<T, std::string>, "ConfigJson: int, float, bool or std::string");
            check(v.is_string(), key, "a string", v);
        }
        return v.get<T>();
    }
    template <class T>
    T get(const char* key, T fallback) const {
        return optional<T>(key).value_or(fallback);
    }
    template <class T>
    T require(const char* key) const {
        const auto v = optional<T>(key);
        if (!v) detail::fail(where_, ": missing required key \"", key, "\"");
        return *v;
    }
    // A nested object (rope_scaling), or nothing when absent or null.
    std::optional<ConfigJson> object(const char* key) const {
        if (!has(key)) return std::nullopt;
        check(json_[key].is_object(), key, "an object", json_[key]);
        return ConfigJson(json_[key], where_ + ": " + key);
    }

    // Fails naming the key: for values of the right type that a preset cannot run (an unknown activation).
    template <class... Why>
    [[noreturn]] void unsupported(const char* key, const Why&... why) const {
        detail::fail(where_, ": key \"", key, "\": ", why...);
    }

private:
    void check(bool ok, const char* key, const char* expected, const nlohmann::json& v) const {
        if (!ok) detail::fail(where_, ": key \"", key, "\" must be ", expected, ", got ", v.dump());
    }
    nlohmann::json json_;
    std::string where_;
};

// transformers' ACT2FN names for the activations lamina has (gelu_new, gelu_fast and gelu_pytorch_tanh are the same
// tanh approximation; "gelu" is the exact erf form).
inline Activation activation(const ConfigJson& j, const char* key, const std::string& fallback) {
    const std::string name = j.get<std::string>(key, fallback);
    if (name == "silu" || name == "swish") return Activation::silu;
    if (name == "gelu") return Activation::gelu_erf;
    if (name == "gelu_new" || name == "gelu_fast" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
    if (name == "relu") return Activation::relu;
    if (name == "linear") return Activation::identity;
    j.unsupported(key, "activation \"", name, "\" is not one of silu, swish, gelu, gelu_new, gelu_fast, "
                  "gelu_pytorch_tanh, relu, linear");
}

// RoPE base and scaling, as transformers reads them: `rope_theta` and `rope_scaling` at the top level (4.x), or both
// inside `rope_parameters` (5.x). Types "default", "linear" and "llama3" are supported; "type" is the legacy
// spelling of "rope_type".
inline void read_rope(const ConfigJson& j, ModelConfig& c, float default_theta) {
    const auto params = j.object("rope_parameters");
    const auto scaling = params ? params : j.object("rope_scaling");
    c.rope_theta = params ? params->get<float>("rope_theta", j.get<float>("rope_theta", default_theta))
                          : j.get<float>("rope_theta", default_theta);
    if (!scaling) return;
    const auto& s = *scaling;
    const std::string type = s.has("rope_type") ? s.require<std::string>("rope_type") : s.get<std::string>("type", "default");
    if (type == "default") return;
    if (type == "linear") {
        c.rope_scaling.kind = RopeScaling::Kind::linear;
        c.rope_scaling.factor = s.require<float>("factor");
    } else if (type == "llama3") {
        c.rope_scaling.kind = RopeScaling::Kind::llama3;
        c.rope_scaling.factor = s.require<float>("factor");
        c.rope_scaling.low_freq_factor = s.require<float>("low_freq_factor");
        c.rope_scaling.high_freq_factor = s.require<float>("high_freq_factor");
        c.rope_scaling.original_max_positions = s.require<int>("original_max_position_embeddings");
    } else {
        s.unsupported("rope_type", "RoPE scaling \"", type, "\" is not supported (default, linear, llama3 are)");
    }
}

}  // namespace lamina::hf
