#pragma once
// The `lamina` tool's shared command-line handling: `--name value` options and `--flag` switches, parsed once and
// read by the command, which declares its switches up front; anything the command never reads is reported as an
// unknown option by finish(). Every failure is a lamina::Error naming the option, printed by main as one line.
#include <lamina/lamina.hpp>

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace lamina::cli {

class Args {
public:
    // argv[first…] holds the options; `switches` are the options that take no value.
    Args(int argc, char** argv, int first, std::set<std::string> switches) {
        for (int i = first; i < argc; ++i) {
            const std::string a = argv[i];
            const bool short_name = a.size() == 2 && a[0] == '-' && a[1] != '-';  // -n is --n
            LAMINA_CHECK(short_name || (a.size() > 2 && a.starts_with("--")), "unexpected argument \"", a,
                         "\" (options are --name value)");
            const std::string name = a.substr(short_name ? 1 : 2);
            LAMINA_CHECK(!values_.count(name), "option --", name, " given twice");
            if (switches.count(name)) {
                values_[name] = "";
                continue;
            }
            LAMINA_CHECK(i + 1 < argc, "option --", name, " needs a value");
            values_[name] = argv[++i];
        }
    }

    std::optional<std::string> get(const std::string& name) {
        read_.insert(name);
        const auto it = values_.find(name);
        return it == values_.end() ? std::nullopt : std::optional(it->second);
    }
    std::string require(const std::string& name) {
        auto v = get(name);
        LAMINA_CHECK(v.has_value(), "missing option --", name);
        return *v;
    }
    bool flag(const std::string& name) { return get(name).has_value(); }

    long long integer(const std::string& name, long long fallback, long long lo, long long hi) {
        const auto v = get(name);
        if (!v) return fallback;
        long long x = 0;
        const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
        LAMINA_CHECK(ec == std::errc() && end == v->data() + v->size() && x >= lo && x <= hi, "--", name, ": \"", *v,
                     "\" is not an integer in ", lo, "..", hi);
        return x;
    }

    double real(const std::string& name, double fallback, double lo, double hi) {
        const auto v = get(name);
        if (!v) return fallback;
        double x = 0;
        const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
        LAMINA_CHECK(ec == std::errc() && end == v->data() + v->size() && x >= lo && x <= hi, "--", name, ": \"", *v,
                     "\" is not a number in ", lo, "..", hi);
        return x;
    }

    // A comma-separated list of token ids ("5,17,3"), non-empty; range checks against the vocabulary happen in the
    // model, which knows it.
    std::vector<std::int32_t> ids(const std::string& name) {
        const std::string s = require(name);
        std::vector<std::int32_t> out;
        std::size_t pos = 0;
        while (pos <= s.size()) {
            const std::size_t comma = std::min(s.find(',', pos), s.size());
            std::int32_t id = 0;
            const auto [end, ec] = std::from_chars(s.data() + pos, s.data() + comma, id);
            LAMINA_CHECK(comma > pos && ec == std::errc() && end == s.data() + comma, "--", name, ": \"", s,
                         "\" is not a comma-separated list of token ids");
            out.push_back(id);
            pos = comma + 1;
        }
        return out;
    }

    // Fails on options the command did not read.
    void finish() const {
        for (const auto& [name, value] : values_) LAMINA_CHECK(read_.count(name), "unknown option --", name);
    }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> read_;
};

// --quantize / --type: q8 | q4.
inline QuantFormat quant_option(const std::string& option, const std::string& value) {
    const auto f = parse_quant_format(value);
    LAMINA_CHECK(f.has_value(), "--", option, ": \"", value, "\" is not q8 or q4");
    return *f;
}

// Options every model-running command shares: --model DIR, --dtype f32|bf16, --quantize q8|q4 [--lm-head FORMAT],
// --activations int8|int16, --kv-cache f32|int8, --threads N.
inline hf::LoadOptions load_options(Args& args) {
    hf::LoadOptions o;
    const std::string dtype = args.get("dtype").value_or("f32");
    LAMINA_CHECK(dtype == "f32" || dtype == "bf16", "--dtype: \"", dtype, "\" is not f32 or bf16");
    o.dtype = dtype == "bf16" ? DType::bf16 : DType::f32;
    if (const auto q = args.get("quantize")) o.quantize = quant_option("quantize", *q);
    if (const auto h = args.get("lm-head")) {
        o.lm_head = parse_weight_format(*h);
        LAMINA_CHECK(o.lm_head.has_value(), "--lm-head: \"", *h, "\" is not f32, bf16, q8 or q4");
        LAMINA_CHECK(o.quantize.has_value(), "--lm-head ", *h, " needs --quantize q8|q4");
    }
    if (const auto a = args.get("activations")) {
        const auto parsed = parse_quant_activations(*a);
        LAMINA_CHECK(parsed.has_value(), "--activations: \"", *a, "\" is not int8 or int16");
        o.activations = *parsed;
    }
    const std::string kv = args.get("kv-cache").value_or("f32");
    LAMINA_CHECK(kv == "f32" || kv == "int8", "--kv-cache: \"", kv, "\" is not f32 or int8");
    o.kv_cache = kv == "int8" ? KvPrecision::int8 : KvPrecision::f32;
    return o;
}
inline int thread_count(Args& args) { return int(args.integer("threads", 0, 0, 1024)); }  // 0: all cores

}  // namespace lamina::cli
