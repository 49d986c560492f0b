#pragma once
// hf::NameTable: one preset's map from lamina's tensor paths (what the Weights::visit declarations name, e.g.
// "layers.3.mixer.q.weight") to the names in a Hugging Face checkpoint. A rule is data:
//     {"layers.#.mixer.q.weight", "h.#.attn.c_attn.weight", Layout::conv1d, 0, 3}
// '#' matches a decimal index (layer, expert) and is substituted in order. Rules may say how the stored tensor
// differs from lamina's orientation (matrices [out, in]):
//   Layout::conv1d   the tensor is stored [in, out] (GPT-2's Conv1D) and is transposed on read;
//   Layout::squeezed the tensor has extra size-1 dimensions (torch Conv1d weights [channels, 1, kernel]);
//   part/parts      HF fuses several of lamina's tensors along `out` (GPT-2's c_attn holds q, k, v): the rule
//                   takes part `part` of `parts` equal slices.
// The backbone of a model is saved with or without its class prefix ("model.layers.0…" from LlamaForCausalLM,
// "layers.0…" from LlamaModel; GPT-2 hub files have "h.0…", re-saved ones "transformer.h.0…"), so a table lists the
// accepted prefixes and each rule whether it lives in the backbone (lm_head does not).
//
// CheckpointSource applies a table to an hf::Checkpoint and is the TensorSource the model loader reads: it checks
// every shape against the declaration, converts F32/F16/BF16 to f32, and releases the mapped pages of each tensor
// once read (MappedFile::release), so loading holds at most one unpacked tensor besides the packed weights.
#include "lamina/io/hf/checkpoint.hpp"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lamina::hf {

enum class Layout { out_in, conv1d, squeezed };

struct Rule {
    std::string lamina, hf;
    Layout layout = Layout::out_in;
    int part = 0, parts = 1;
    bool backbone = true;  // the name takes the table's prefixes
};

class NameTable {
public:
    NameTable(std::vector<std::string> prefixes, std::vector<Rule> rules)
        : prefixes_(std::move(prefixes)), rules_(std::move(rules)) {}

    // The rule for a lamina path and the HF names it may have on disk, in order of preference; nothing when the
    // table has no rule for the path.
    struct Match {
        const Rule* rule;
        std::vector<std::string> candidates;
    };
    std::optional<Match> find(const std::string& lamina) const {
        std::vector<std::string> indices;
        for (const Rule& r : rules_) {
            if (!matches(r.lamina, lamina, indices)) continue;
            const std::string base = substitute(r.hf, indices);
            Match m{&r, {}};
            if (r.backbone)
                for (const auto& p : prefixes_) m.candidates.push_back(p + base);
            else
                m.candidates.push_back(base);
            return m;
        }
        return std::nullopt;
    }
    const std::vector<Rule>& rules() const { return rules_; }

private:
    static bool matches(std::string_view pattern, std::string_view name, std::vector<std::string>& indices) {
        indices.clear();
        std::size_t i = 0, j = 0;
        for (; i < pattern.size(); ++i) {
            if (pattern[i] == '#') {
                const std::size_t start = j;
                while (j < name.size() && name[j] >= '0' && name[j] <= '9') ++j;
                if (j == start) return false;
                indices.emplace_back(name.substr(start, j - start));
            } else if (j >= name.size() || name[j++] != pattern[i]) {
                return false;
            }
        }
        return j == name.size();
    }
    static std::string substitute(std::string_view pattern, const std::vector<std::string>& indices) {
        std::string out;
        std::size_t k = 0;
        for (char ch : pattern) {
            if (ch == '#' && k < indices.size())
                out += indices[k++];
            else
                out += ch;
        }
        return out;
    }

    std::vector<std::string> prefixes_;
    std::vector<Rule> rules_;
};

class CheckpointSource {
public:
    CheckpointSource(const Checkpoint& checkpoint, const NameTable& table) : checkpoint_(checkpoint), table_(table) {}

    bool has(const std::string& lamina) const {
        const auto m = table_.find(lamina);
        return m && resolve(*m);
    }

    // The checkpoint's name for a lamina path (the first accepted form present), for errors and `lamina info`.
    std::string hf_name(const std::string& lamina) const {
        const auto m = need_rule(lamina);
        const auto name = resolve(m);
        if (!name) missing(lamina, m);
        return *name;
    }

    std::vector<float> read(const std::string& lamina, std::span<const std::int64_t> shape) const {
        const auto m = need_rule(lamina);
        const auto found = resolve(m);
        if (!found) missing(lamina, m);
        const std::string& name = *found;
        const Rule& r = *m.rule;
        const Safetensors& file = checkpoint_.file_of(name);
        const TensorEntry& e = file.at(name);

        // The stored shape that yields `shape`: lamina's [out, in] with out × parts, reversed for Conv1D.
        std::vector<std::int64_t> stored(shape.begin(), shape.end());
        LAMINA_CHECK(!stored.empty(), "CheckpointSource: scalar tensor ", lamina);
        stored[0] *= r.parts;
        if (r.layout == Layout::conv1d && stored.size() == 2) std::swap(stored[0], stored[1]);  // [in, out]
        const auto squeeze = [&](std::vector<std::int64_t> v) {
            if (r.layout == Layout::squeezed) std::erase(v, std::int64_t{1});
            return v;
        };
        if (squeeze(e.shape) != squeeze(stored))
            detail::fail(file.name(), ": tensor \"", name, "\" has shape ", Safetensors::shape_string(e.shape),
                         ", expected ", Safetensors::shape_string(stored), " (lamina ", lamina, ")");
        std::vector<float> all = file.to_f32(name);
        file.release(name);

        const std::int64_t rows = shape[0];
        if (r.layout == Layout::conv1d && stored.size() == 2)
            return transpose_rows(all, stored[0], stored[1], r.part * rows, rows);
        if (r.parts == 1) return all;
        const std::int64_t width = std::int64_t(all.size()) / stored[0];
        const auto begin = all.begin() + r.part * rows * width;
        return std::vector<float>(begin, begin + rows * width);
    }

    const Checkpoint& checkpoint() const { return checkpoint_; }
    const NameTable& table() const { return table_; }

private:
    NameTable::Match need_rule(const std::string& lamina) const {
        auto m = table_.find(lamina);
        LAMINA_CHECK(m.has_value(), "name table: no checkpoint name for lamina tensor \"", lamina,
                     "\" (this preset does not support the composition)");
        return std::move(*m);
    }
    std::optional<std::string> resolve(const NameTable::Match& m) const {
        for (const auto& c : m.candidates)
            if (checkpoint_.contains(c)) return c;
        return std::nullopt;
    }
    [[noreturn]] void missing(const std::string& lamina, const NameTable::Match& m) const {
        std::string tried;
        for (const auto& c : m.candidates) tried += (tried.empty() ? "\"" : ", \"") + c + "\"";
        const auto& files = checkpoint_.files();
        detail::fail(files.size() == 1 ? files[0].name() : files[0].name() + " and the other shards",
                     ": missing tensor ", tried, " (lamina ", lamina, ")");
    }
    // Rows [row0, row0 + n) of the transpose of a [in, out] matrix: the [n, in] slice lamina wants.
    static std::vector<float> transpose_rows(const std::vector<float>& src, std::int64_t in, std::int64_t out,
                                             std::int64_t row0, std::int64_t n) {
        std::vector<float> dst(std::size_t(n * in));
        for (std::int64_t o = 0; o < n; ++o)
            for (std::int64_t i = 0; i < in; ++i) dst[std::size_t(o * in + i)] = src[std::size_t(i * out + row0 + o)];
        return dst;
    }

    const Checkpoint& checkpoint_;
    const NameTable& table_;
};

}  // namespace lamina::hf
