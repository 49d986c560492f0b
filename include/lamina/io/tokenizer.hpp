#pragma once
// Tokenizer: Hugging Face `tokenizer.json` BPE tokenizers (and GPT-2's vocab.json + merges.txt), run the way
// Hugging Face tokenizers runs them (tokenizers/src/tokenizer/mod.rs, encode then decode):
//
//   text -> added tokens split out (leftmost-longest literal match, before normalization unless `normalized`)
//        -> normalizer on each remaining segment (Prepend, Replace, NFC — see below)
//        -> pre-tokenizer into words (ByteLevel with the GPT-2 regex, Split with the GPT-2 / Llama 3 / Qwen2
//           regex, Metaspace)
//        -> BpeModel on each word (byte-level, or characters with <0xXX> byte fallback and <unk>)
//        -> post-processor when add_special (TemplateProcessing, Roberta/BertProcessing; ByteLevel adds nothing)
//   ids  -> token strings -> decoder (ByteLevel, or Replace/ByteFallback/Fuse/Strip as Llama 2 and Mistral ship it,
//           or Metaspace)
//
// That covers GPT-2, Llama 3, Qwen2 (byte-level) and Llama 2 / Mistral (SentencePiece BPE with byte fallback, in both
// the legacy Prepend+Replace normalizer form and the newer Metaspace pre-tokenizer form). Anything else in a file —
// another model type, normalizer, pre-tokenizer, decoder or an unrecognised Split regex — is refused with a
// lamina::Error naming the file and the key, never silently approximated. Two deliberate differences from HF:
//   * decode returns the exact bytes (byte tokens that do not form UTF-8 stay as they are; HF substitutes U+FFFD),
//     so decode(encode(s)) == s holds for arbitrary bytes through a byte-level tokenizer; unicode::to_valid_utf8
//     gives HF's lossy result;
//   * the NFC normalizer (Qwen2) is applied only to text that is already NFC — text holding a character whose NFC
//     quick check is No/Maybe is refused, since lamina carries no composition tables.
// A loaded Tokenizer is immutable apart from set_bos_id/set_eos_id; encode and decode are const and thread-safe.
#include "lamina/core/error.hpp"
#include "lamina/io/bpe.hpp"
#include "lamina/io/pre_tokenizer.hpp"
#include "lamina/io/safetensors.hpp"  // detail::parse_json_strict
#include "lamina/io/unicode.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace lamina {

namespace detail {

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(path, ": cannot open (", std::strerror(errno), ")");
    std::ostringstream os;
    os << in.rdbuf();
    if (in.bad()) fail(path, ": read error");
    return os.str();
}

inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty() || s.find(from) == std::string::npos) return;
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    for (std::size_t hit; (hit = s.find(from, i)) != std::string::npos; i = hit + from.size()) {
        out.append(s, i, hit - i);
        out += to;
    }
    out.append(s, i);
    s = std::move(out);
}

// Start of the character that ends just before byte i (> 0).
inline std::size_t previous_char(std::string_view s, std::size_t i) {
    std::size_t j = i - 1;
    while (j > 0 && i - j < 4 && (std::uint8_t(s[j]) & 0xC0) == 0x80) --j;
    return unicode::decode_at(s, j).len == i - j ? j : i - 1;
}

// Literal matching of added tokens, as HF's AddedVocabulary::find_matches: leftmost-longest, optional whole-word
// (`single_word`) and whitespace absorption on either side (`lstrip`, `rstrip`).
class AddedTokenMatcher {
public:
    struct Entry {
        std::string pattern;
        std::int32_t id;
        bool single_word, lstrip, rstrip;
    };

    bool empty() const { return entries_.empty(); }
    void add(Entry e) {
        if (e.pattern.empty()) return;
        entries_.push_back(std::move(e));
        auto& bucket = by_first_byte_[std::uint8_t(entries_.back().pattern[0])];
        bucket.push_back(std::uint32_t(entries_.size() - 1));
        std::stable_sort(bucket.begin(), bucket.end(), [&](std::uint32_t a, std::uint32_t b) {
            return entries_[a].pattern.size() > entries_[b].pattern.size();
        });
    }

    // Calls on_text(piece, offset) for the text between matches (non-empty pieces only) and on_token(id) for each
    // match, in order.
    template <class OnText, class OnToken>
    void split(std::string_view s, OnText&& on_text, OnToken&& on_token) const {
        std::size_t done = 0;  // end of the last split emitted
        for (std::size_t pos = 0; pos < s.size();) {
            const Entry* hit = nullptr;
            for (const std::uint32_t k : by_first_byte_[std::uint8_t(s[pos])])
                if (s.compare(pos, entries_[k].pattern.size(), entries_[k].pattern) == 0) {
                    hit = &entries_[k];
                    break;
                }
            if (!hit) {
                ++pos;
                continue;
            }
            std::size_t start = pos, stop = pos + hit->pattern.size();
            pos = stop;
            if (hit->single_word && ((start > 0 && is_word_char(s, previous_char(s, start))) ||
                                     (stop < s.size() && is_word_char(s, stop))))
                continue;
            if (hit->lstrip) {
                while (start > done) {
                    const std::size_t p = previous_char(s, start);
                    if (!is_space(s, p)) break;
                    start = p;
                }
            }
            if (hit->rstrip)
                while (stop < s.size() && is_space(s, stop)) stop += unicode::decode_at(s, stop).len;
            if (done < start) on_text(s.substr(done, start - done), done);
            on_token(hit->id);
            done = pos = stop;
        }
        if (done < s.size()) on_text(s.substr(done), done);
    }

private:
    static bool is_space(std::string_view s, std::size_t i) {
        const char32_t cp = unicode::decode_at(s, i).cp;
        return cp != unicode::invalid_code_point && unicode::is_white_space(cp);
    }
    // Rust regex's \w, approximated as letters, numbers and '_'.
    static bool is_word_char(std::string_view s, std::size_t i) {
        const char32_t cp = unicode::decode_at(s, i).cp;
        if (cp == '_') return true;
        if (cp == unicode::invalid_code_point) return false;
        const auto k = unicode::char_class(cp);
        return k == unicode::CharClass::Letter || k == unicode::CharClass::Number;
    }

    std::vector<Entry> entries_;
    std::array<std::vector<std::uint32_t>, 256> by_first_byte_;
};

// Typed access to tokenizer.json values; every failure names the file and the key path.
struct JsonFields {
    const std::string& file;

    template <class... Why>
    [[noreturn]] void fail(const std::string& key, const Why&... why) const {
        detail::fail(file, ": ", key, ": ", why...);
    }
    const nlohmann::json* find(const nlohmann::json& obj, const char* field) const {
        const auto it = obj.find(field);
        return it == obj.end() || it->is_null() ? nullptr : &*it;
    }
    const nlohmann::json& need(const nlohmann::json& obj, const char* field, const std::string& path) const {
        const auto* v = find(obj, field);
        if (!v) fail(path + "." + field, "missing");
        return *v;
    }
    std::string string(const nlohmann::json& obj, const char* field, const std::string& path) const {
        const auto& v = need(obj, field, path);
        if (!v.is_string()) fail(path + "." + field, "expected a string, got ", v.type_name());
        return v.get<std::string>();
    }
    std::optional<std::string> optional_string(const nlohmann::json& obj, const char* field,
                                               const std::string& path) const {
        if (!find(obj, field)) return std::nullopt;
        return string(obj, field, path);
    }
    bool boolean(const nlohmann::json& obj, const char* field, const std::string& path, bool fallback) const {
        const auto* v = find(obj, field);
        if (!v) return fallback;
        if (!v->is_boolean()) fail(path + "." + field, "expected true or false, got ", v->type_name());
        return v->get<bool>();
    }
    std::int64_t integer(const nlohmann::json& v, const std::string& path) const {
        if (!v.is_number_integer()) fail(path, "expected an integer, got ", v.type_name());
        return v.get<std::int64_t>();
    }
    // A token id or count: a non-negative integer that fits an int32.
    std::int32_t token_id(const nlohmann::json& v, const std::string& path) const {
        const std::int64_t id = integer(v, path);
        if (id < 0 || id > std::int64_t(0x7FFFFFFE)) fail(path, id, " is out of range [0, 2^31 - 1)");
        return std::int32_t(id);
    }
    // The "type" of a pipeline component, e.g. {"type": "ByteLevel", ...}.
    std::string type(const nlohmann::json& v, const std::string& path) const {
        if (!v.is_object()) fail(path, "expected an object, got ", v.type_name());
        return string(v, "type", path);
    }
    // A Replace/Split pattern: {"String": "..."}; {"Regex": "..."} only where the caller accepts it.
    std::string literal_pattern(const nlohmann::json& obj, const std::string& path) const {
        const auto& p = need(obj, "pattern", path);
        if (p.is_object() && p.contains("String") && p["String"].is_string()) return p["String"].get<std::string>();
        if (p.is_object() && p.contains("Regex"))
            fail(path + ".pattern", "regex patterns are not supported here (only {\"String\": ...})");
        fail(path + ".pattern", "expected {\"String\": ...}");
    }
    // A single character given as a string (Metaspace replacement, Strip content).
    std::string character(const nlohmann::json& obj, const char* field, const std::string& path) const {
        std::string s = string(obj, field, path);
        if (s.empty() || unicode::decode_at(s, 0).len != s.size())
            fail(path + "." + field, "expected a single character, got \"", s, "\"");
        return s;
    }
};

}  // namespace detail

class Tokenizer {
public:
    // Reads a Hugging Face tokenizer.json.
    static Tokenizer from_file(const std::string& path) { return from_json(detail::read_text_file(path), path); }

    // Parses tokenizer.json text; `name` stands for the file in errors.
    static Tokenizer from_json(std::string_view text, const std::string& name) {
        Tokenizer t;
        t.name_ = name;
        t.id_bound_ = text.size();
        t.parse_tokenizer_json(detail::parse_json_strict(text, name));
        return t;
    }

    // GPT-2's original files: vocab.json ({token: id}) and merges.txt (optional "#version" line, then "left right"
    // per line, highest priority first), with the GPT-2 byte-level pipeline and <|endoftext|> as a special token.
    static Tokenizer from_vocab_merges(const std::string& vocab_path, const std::string& merges_path) {
        Tokenizer t;
        t.name_ = vocab_path;
        const std::string vocab_text = detail::read_text_file(vocab_path);
        t.id_bound_ = vocab_text.size();
        const nlohmann::json vocab = detail::parse_json_strict(vocab_text, vocab_path);
        const detail::JsonFields f{vocab_path};
        PreTokenizerStep byte_level;
        byte_level.kind = PreTokenizerStep::ByteLevel;
        t.pre_tokenizer_.push_back(byte_level);
        BpeModel::Options options;
        options.byte_level = true;
        t.build_model(vocab, f, "vocab", std::move(options));

        const std::string merges = detail::read_text_file(merges_path);
        std::size_t line_no = 0;
        for (std::size_t pos = 0; pos < merges.size();) {
            std::size_t end = merges.find('\n', pos);
            if (end == std::string::npos) end = merges.size();
            std::string_view line(merges.data() + pos, end - pos);
            pos = end + 1;
            ++line_no;
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
            const std::size_t space = line.find(' ');
            if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
                detail::fail(merges_path, ":", line_no, ": expected two tokens separated by one space, got \"", line,
                             "\"");
            const std::string where = merges_path + ":" + std::to_string(line_no);
            t.add_merge(std::string(line.substr(0, space)), std::string(line.substr(space + 1)), where);
        }
        if (const auto id = t.model_.lookup("<|endoftext|>"); id >= 0)
            t.add_added_token({"<|endoftext|>", id, false, false, false, false, true});
        DecoderStep dec;
        dec.kind = DecoderStep::ByteLevel;
        t.decoder_.push_back(dec);
        t.has_decoder_ = true;
        t.finish();
        return t;
    }

    const std::string& name() const { return name_; }

    // Token ids of `text`; with add_special, wrapped by the post-processor's template (e.g. a leading BOS).
    std::vector<std::int32_t> encode(std::string_view text, bool add_special = false) const {
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3 + 4);
        BpeScratch scratch;
        auto on_text = [&](std::string_view segment, std::size_t offset) {
            encode_segment(segment, offset == 0, ids, scratch);
        };
        raw_added_.split(text, on_text, [&](std::int32_t id) { ids.push_back(id); });
        if (add_special && !template_.empty()) {
            std::vector<std::int32_t> wrapped;
            wrapped.reserve(ids.size() + 4);
            for (const auto& item : template_) {
                if (item.sequence) wrapped.insert(wrapped.end(), ids.begin(), ids.end());
                else wrapped.insert(wrapped.end(), item.ids.begin(), item.ids.end());
            }
            return wrapped;
        }
        return ids;
    }

    // The text of `ids`; special added tokens are dropped with skip_special. Throws on an id outside the vocabulary.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const {
        std::string out;
        DecodeState state = decode_start();
        for (const std::int32_t id : ids) decode_append(id, out, state, skip_special);
        return out;
    }

    // Ids are 0 .. vocab_size() - 1 (model vocabulary and added tokens together).
    std::int32_t vocab_size() const { return std::int32_t(tokens_.size()); }

    std::optional<std::int32_t> token_id(std::string_view token) const {
        if (const auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
        if (const std::int32_t id = model_.lookup(token); id >= 0) return id;
        return std::nullopt;
    }
    // The token as the vocabulary spells it ("Ġthe" in a byte-level vocabulary, "▁the" in a SentencePiece one).
    const std::string& token_text(std::int32_t id) const { return tokens_[check_id(id)]; }
    // The bytes the token decodes to when it is not the first token.
    const std::string& token_bytes(std::int32_t id) const { return pieces_[check_id(id)]; }
    bool is_special(std::int32_t id) const { return special_[check_id(id)]; }

    // Beginning/end-of-sequence ids: from the post-processor template when it places a special token before/after
    // the text, else the usual names among the added tokens (<s>, <|begin_of_text|>, <|endoftext|>, </s>,
    // <|end_of_text|>, ...). tokenizer.json does not record them otherwise; callers holding tokenizer_config.json
    // can override.
    std::optional<std::int32_t> bos_id() const { return bos_; }
    std::optional<std::int32_t> eos_id() const { return eos_; }
    void set_bos_id(std::optional<std::int32_t> id) {
        if (id) check_id(*id);
        bos_ = id;
    }
    void set_eos_id(std::optional<std::int32_t> id) {
        if (id) check_id(*id);
        eos_ = id;
    }

    // Incremental decoding, shared by decode() and TokenStreamDecoder: the only state a decoder chain carries across
    // tokens is whether the next token is the first one and how much leading strip (Strip after Fuse) remains.
    struct DecodeState {
        bool first = true;
        std::size_t strip_left = 0;
    };
    DecodeState decode_start() const { return {true, stream_strip_count_}; }
    void decode_append(std::int32_t id, std::string& out, DecodeState& state, bool skip_special) const {
        const std::size_t k = check_id(id);
        if (skip_special && special_[k]) return;
        std::string first_piece;
        std::string_view piece = pieces_[k];
        if (state.first && first_differs_) {
            first_piece = apply_decoder(tokens_[k], true);
            piece = first_piece;
        }
        if (!has_decoder_ && !state.first) out += ' ';  // HF joins tokens with spaces when there is no decoder
        state.first = false;
        while (state.strip_left > 0 && !piece.empty() && piece.starts_with(stream_strip_content_)) {
            piece.remove_prefix(stream_strip_content_.size());
            --state.strip_left;
        }
        if (!piece.empty()) state.strip_left = 0;
        out += piece;
    }

private:
    Tokenizer() = default;

    struct NormalizerStep {
        enum Kind { Prepend, Replace, Nfc } kind;
        std::string a, b;
    };
    struct PreTokenizerStep {
        enum Kind { ByteLevel, Split, Metaspace } kind = ByteLevel;
        bool add_prefix_space = false, use_regex = true;  // ByteLevel
        SplitRegex regex = SplitRegex::Gpt2;             // Split
        std::string replacement;                          // Metaspace
        enum Prepend { Never, Always, First } prepend = Always;
        bool split = true;
    };
    struct DecoderStep {
        enum Kind { Replace, ByteFallback, ByteLevel, Strip, Metaspace } kind = ByteLevel;
        std::string a, b;  // Replace from/to; Strip content; Metaspace replacement
        std::size_t start = 0, stop = 0;
        bool drop_on_first = false;  // Metaspace: the first token loses its replacement characters
    };
    struct TemplateItem {
        bool sequence;
        std::vector<std::int32_t> ids;
    };
    struct AddedToken {
        std::string content;
        std::int32_t id;
        bool single_word, lstrip, rstrip, normalized, special;
    };

    std::size_t check_id(std::int32_t id) const {
        LAMINA_CHECK(id >= 0 && id < vocab_size(), name_, ": token id ", id, " is out of range [0, ", vocab_size(),
                     ")");
        LAMINA_CHECK(assigned_[std::size_t(id)], name_, ": token id ", id, " is not assigned to any token");
        return std::size_t(id);
    }

    // ---- encoding -------------------------------------------------------------------------------------------------

    void encode_segment(std::string_view segment, bool at_start, std::vector<std::int32_t>& ids,
                        BpeScratch& scratch) const {
        if (normalizer_.empty()) return pre_tokenize(0, segment, at_start, ids, scratch);
        const std::string normalized = normalize(segment);
        if (normalized_added_.empty()) return pre_tokenize(0, normalized, at_start, ids, scratch);
        normalized_added_.split(
            normalized,
            [&](std::string_view piece, std::size_t offset) {
                pre_tokenize(0, piece, at_start && offset == 0, ids, scratch);
            },
            [&](std::int32_t id) { ids.push_back(id); });
    }

    std::string normalize(std::string_view text) const {
        std::string s(text);
        for (const auto& step : normalizer_) {
            switch (step.kind) {
                case NormalizerStep::Prepend:
                    if (!s.empty()) s.insert(0, step.a);
                    break;
                case NormalizerStep::Replace: detail::replace_all(s, step.a, step.b); break;
                case NormalizerStep::Nfc:
                    for (std::size_t i = 0; i < s.size();) {
                        const auto c = unicode::decode_at(s, i);
                        if (c.cp != unicode::invalid_code_point && !unicode::is_nfc_stable(c.cp)) {
                            char hex[16];
                            std::snprintf(hex, sizeof hex, "U+%04X", unsigned(c.cp));
                            detail::fail(name_, ": normalizer NFC: the text holds ", hex,
                                         ", which NFC may change; lamina applies NFC only to text already in NFC");
                        }
                        i += c.len;
                    }
                    break;
            }
        }
        return s;
    }

    void pre_tokenize(std::size_t stage, std::string_view text, bool at_start, std::vector<std::int32_t>& ids,
                      BpeScratch& scratch) const {
        if (text.empty()) return;
        if (stage == pre_tokenizer_.size()) return model_.encode_word(text, ids, scratch);
        const PreTokenizerStep& step = pre_tokenizer_[stage];
        bool first_piece = at_start;
        auto next = [&](std::string_view piece) {
            pre_tokenize(stage + 1, piece, first_piece, ids, scratch);
            first_piece = false;
        };
        switch (step.kind) {
            case PreTokenizerStep::ByteLevel: {
                std::string prefixed;
                if (step.add_prefix_space && text[0] != ' ') {
                    prefixed.reserve(text.size() + 1);
                    prefixed += ' ';
                    prefixed += text;
                    text = prefixed;
                }
                if (step.use_regex) split_with_regex(text, SplitRegex::Gpt2, next);
                else next(text);
                return;
            }
            case PreTokenizerStep::Split: split_with_regex(text, step.regex, next); return;
            case PreTokenizerStep::Metaspace: {
                std::string s(text);
                detail::replace_all(s, " ", step.replacement);
                const bool prepend = step.prepend == PreTokenizerStep::Always ||
                                     (step.prepend == PreTokenizerStep::First && at_start);
                if (prepend && !s.starts_with(step.replacement)) s.insert(0, step.replacement);
                if (!step.split) return next(s);
                // Split before every replacement character (HF's MergedWithNext).
                std::size_t begin = 0;
                for (std::size_t hit = s.find(step.replacement, 1); hit != std::string::npos;
                     hit = s.find(step.replacement, hit + 1)) {
                    next(std::string_view(s).substr(begin, hit - begin));
                    begin = hit;
                }
                next(std::string_view(s).substr(begin));
                return;
            }
        }
    }

    // ---- decoding -------------------------------------------------------------------------------------------------

    std::string apply_decoder(std::string token, bool first) const {
        for (const auto& step : decoder_) {
            switch (step.kind) {
                case DecoderStep::Replace: detail::replace_all(token, step.a, step.b); break;
                case DecoderStep::ByteFallback:
                    if (token.size() == 6 && token.starts_with("<0x") && token[5] == '>' &&
                        std::isxdigit(std::uint8_t(token[3])) && std::isxdigit(std::uint8_t(token[4])))
                        token = std::string(1, char(std::stoi(token.substr(3, 2), nullptr, 16)));
                    break;
                case DecoderStep::ByteLevel:
                    if (auto raw = BpeModel::bytes_of(token)) token = std::move(*raw);
                    break;
                case DecoderStep::Strip: {
                    std::size_t lead = 0, trail = 0;
                    while (lead < step.start && token.compare(lead * step.a.size(), step.a.size(), step.a) == 0)
                        ++lead;
                    token.erase(0, lead * step.a.size());
                    while (trail < step.stop && token.size() >= step.a.size() * (trail + 1) &&
                           token.compare(token.size() - step.a.size() * (trail + 1), step.a.size(), step.a) == 0)
                        ++trail;
                    token.resize(token.size() - trail * step.a.size());
                    break;
                }
                case DecoderStep::Metaspace:
                    detail::replace_all(token, step.a, first && step.drop_on_first ? "" : " ");
                    break;
            }
        }
        return token;
    }

    // ---- loading --------------------------------------------------------------------------------------------------

    void parse_tokenizer_json(const nlohmann::json& j) {
        const detail::JsonFields f{name_};
        if (!j.is_object()) detail::fail(name_, ": expected a JSON object at the top level, got ", j.type_name());
        const auto& model = f.need(j, "model", "(root)");
        if (!model.is_object()) f.fail("model", "expected an object, got ", model.type_name());
        if (const auto type = f.optional_string(model, "type", "model"); type && *type != "BPE")
            f.fail("model.type", "\"", *type, "\" is not supported (lamina reads BPE models)");
        if (const auto* dropout = f.find(model, "dropout");
            dropout && (!dropout->is_number() || dropout->get<double>() != 0.0))
            f.fail("model.dropout", "BPE dropout is a training-time option and is not supported");

        if (const auto* n = f.find(j, "normalizer")) parse_normalizer(*n, "normalizer", f);
        if (const auto* p = f.find(j, "pre_tokenizer")) parse_pre_tokenizer(*p, "pre_tokenizer", f);
        for (std::size_t i = 0; i < pre_tokenizer_.size(); ++i)
            if (pre_tokenizer_[i].kind == PreTokenizerStep::ByteLevel && i + 1 != pre_tokenizer_.size())
                f.fail("pre_tokenizer", "a ByteLevel step must come last");
        const bool byte_level =
            !pre_tokenizer_.empty() && pre_tokenizer_.back().kind == PreTokenizerStep::ByteLevel;

        BpeModel::Options options;
        options.byte_level = byte_level;
        options.unk_token = f.optional_string(model, "unk_token", "model").value_or("");
        options.fuse_unk = f.boolean(model, "fuse_unk", "model", false);
        options.byte_fallback = f.boolean(model, "byte_fallback", "model", false);
        options.ignore_merges = f.boolean(model, "ignore_merges", "model", false);
        options.continuing_subword_prefix = f.optional_string(model, "continuing_subword_prefix", "model").value_or("");
        options.end_of_word_suffix = f.optional_string(model, "end_of_word_suffix", "model").value_or("");
        build_model(f.need(model, "vocab", "model"), f, "model.vocab", std::move(options));

        if (const auto* merges = f.find(model, "merges")) {
            if (!merges->is_array()) f.fail("model.merges", "expected an array, got ", merges->type_name());
            model_.reserve_merges(merges->size());
            for (std::size_t i = 0; i < merges->size(); ++i) {
                const auto& m = (*merges)[i];
                const std::string path = "model.merges[" + std::to_string(i) + "]";
                if (m.is_string()) {
                    const std::string s = m.get<std::string>();
                    const std::size_t space = s.find(' ');
                    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                        f.fail(path, "expected two tokens separated by one space, got \"", s, "\"");
                    add_merge(s.substr(0, space), s.substr(space + 1), name_ + ": " + path);
                } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                    add_merge(m[0].get<std::string>(), m[1].get<std::string>(), name_ + ": " + path);
                } else {
                    f.fail(path, "expected \"left right\" or [\"left\", \"right\"], got ", m.dump());
                }
            }
        }

        if (const auto* added = f.find(j, "added_tokens")) {
            if (!added->is_array()) f.fail("added_tokens", "expected an array, got ", added->type_name());
            for (std::size_t i = 0; i < added->size(); ++i) {
                const auto& a = (*added)[i];
                const std::string path = "added_tokens[" + std::to_string(i) + "]";
                if (!a.is_object()) f.fail(path, "expected an object, got ", a.type_name());
                AddedToken t;
                t.id = f.token_id(f.need(a, "id", path), path + ".id");
                t.content = f.string(a, "content", path);
                t.special = f.boolean(a, "special", path, false);
                t.single_word = f.boolean(a, "single_word", path, false);
                t.lstrip = f.boolean(a, "lstrip", path, false);
                t.rstrip = f.boolean(a, "rstrip", path, false);
                t.normalized = f.boolean(a, "normalized", path, !t.special);
                if (const auto it = added_ids_.find(t.content); it != added_ids_.end() && it->second != t.id)
                    f.fail(path, "\"", t.content, "\" is already added with id ", it->second);
                add_added_token(std::move(t));
            }
        }

        if (const auto* d = f.find(j, "decoder")) {
            parse_decoder(*d, "decoder", f);
            has_decoder_ = true;
        }
        if (const auto* p = f.find(j, "post_processor")) parse_post_processor(*p, "post_processor", f);
        finish();
    }

    void build_model(const nlohmann::json& vocab, const detail::JsonFields& f, const std::string& path,
                     BpeModel::Options options) {
        if (!vocab.is_object()) f.fail(path, "expected an object of token: id, got ", vocab.type_name());
        detail::StringIdMap map;
        map.reserve(vocab.size());
        std::int32_t max_id = -1;
        for (const auto& [token, value] : vocab.items()) {
            const std::int32_t id = f.token_id(value, path + "[\"" + token + "\"]");
            map.emplace(token, id);
            max_id = std::max(max_id, id);
        }
        grow_ids(max_id);
        for (const auto& [token, id] : map) {
            if (assigned_[std::size_t(id)])
                f.fail(path + "[\"" + token + "\"]", "id ", id, " is already used by \"", tokens_[std::size_t(id)],
                       "\"");
            assigned_[std::size_t(id)] = true;
            tokens_[std::size_t(id)] = token;
        }
        model_ = BpeModel(std::move(map), std::move(options));
    }

    // Ids index tables of one entry per id, so an id is bounded by the file's size (a dense file spends at least
    // six bytes per token): a few bytes of hostile JSON cannot ask for gigabytes.
    void grow_ids(std::int32_t max_id) {
        if (max_id < std::int32_t(tokens_.size())) return;
        LAMINA_CHECK(std::size_t(max_id) < id_bound_, name_, ": token id ", max_id, " is implausibly large for a file of ",
                     id_bound_, " bytes (ids index the embedding table densely)");
        tokens_.resize(std::size_t(max_id) + 1);
        assigned_.resize(std::size_t(max_id) + 1, false);
    }

    // `where` locates the merge in errors ("file: model.merges[3]" or "merges.txt:4").
    void add_merge(const std::string& left, const std::string& right, const std::string& where) {
        const std::int32_t a = model_.lookup(left), b = model_.lookup(right);
        if (a < 0 || b < 0)
            detail::fail(where, ": merge \"", left, " ", right, "\" names \"", a < 0 ? left : right,
                         "\", not in the vocabulary");
        // HF drops the continuing-subword prefix of the right part when forming the merged token.
        const std::string& prefix = model_.options().continuing_subword_prefix;
        const std::string merged =
            left + (!prefix.empty() && right.starts_with(prefix) ? right.substr(prefix.size()) : right);
        const std::int32_t m = model_.lookup(merged);
        if (m < 0)
            detail::fail(where, ": merge \"", left, " ", right, "\" makes \"", merged, "\", not in the vocabulary");
        model_.add_merge(a, b, m);
    }

    void add_added_token(AddedToken t) {
        if (t.content.empty()) return;
        grow_ids(t.id);
        assigned_[std::size_t(t.id)] = true;
        tokens_[std::size_t(t.id)] = t.content;  // the added token's content wins over a model token of that id
        added_ids_[t.content] = t.id;
        added_.push_back(std::move(t));
    }

    void parse_normalizer(const nlohmann::json& n, const std::string& path, const detail::JsonFields& f) {
        const std::string type = f.type(n, path);
        if (type == "Sequence") {
            const auto& list = f.need(n, "normalizers", path);
            if (!list.is_array()) f.fail(path + ".normalizers", "expected an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                parse_normalizer(list[i], path + ".normalizers[" + std::to_string(i) + "]", f);
        } else if (type == "Prepend") {
            normalizer_.push_back({NormalizerStep::Prepend, f.string(n, "prepend", path), {}});
        } else if (type == "Replace") {
            normalizer_.push_back({NormalizerStep::Replace, f.literal_pattern(n, path), f.string(n, "content", path)});
        } else if (type == "NFC") {
            normalizer_.push_back({NormalizerStep::Nfc, {}, {}});
        } else {
            f.fail(path + ".type", "normalizer \"", type, "\" is not supported");
        }
    }

    void parse_pre_tokenizer(const nlohmann::json& p, const std::string& path, const detail::JsonFields& f) {
        const std::string type = f.type(p, path);
        PreTokenizerStep step;
        if (type == "Sequence") {
            const auto& list = f.need(p, "pretokenizers", path);
            if (!list.is_array()) f.fail(path + ".pretokenizers", "expected an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                parse_pre_tokenizer(list[i], path + ".pretokenizers[" + std::to_string(i) + "]", f);
            return;
        } else if (type == "ByteLevel") {
            step.kind = PreTokenizerStep::ByteLevel;
            step.add_prefix_space = f.boolean(p, "add_prefix_space", path, false);
            step.use_regex = f.boolean(p, "use_regex", path, true);
        } else if (type == "Split") {
            step.kind = PreTokenizerStep::Split;
            const auto& pattern = f.need(p, "pattern", path);
            if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string())
                f.fail(path + ".pattern", "only {\"Regex\": ...} patterns of the GPT-2, Llama 3 or Qwen2 kind are "
                                          "supported");
            const auto regex = recognise_split_regex(pattern["Regex"].get<std::string>());
            if (!regex)
                f.fail(path + ".pattern.Regex", "unsupported regex ", pattern["Regex"].dump(),
                       " (lamina matches the GPT-2, Llama 3 and Qwen2 patterns by hand)");
            step.regex = *regex;
            const std::string behavior = f.optional_string(p, "behavior", path).value_or("Isolated");
            if (behavior != "Isolated") f.fail(path + ".behavior", "\"", behavior, "\" is not supported (Isolated)");
            if (f.boolean(p, "invert", path, false)) f.fail(path + ".invert", "inverted splits are not supported");
        } else if (type == "Metaspace") {
            step.kind = PreTokenizerStep::Metaspace;
            step.replacement = f.character(p, "replacement", path);
            if (const auto scheme = f.optional_string(p, "prepend_scheme", path)) {
                if (*scheme == "always") step.prepend = PreTokenizerStep::Always;
                else if (*scheme == "first") step.prepend = PreTokenizerStep::First;
                else if (*scheme == "never") step.prepend = PreTokenizerStep::Never;
                else f.fail(path + ".prepend_scheme", "\"", *scheme, "\" is not always, first or never");
            } else {
                step.prepend = f.boolean(p, "add_prefix_space", path, true) ? PreTokenizerStep::Always
                                                                            : PreTokenizerStep::Never;
            }
            step.split = f.boolean(p, "split", path, true);
        } else {
            f.fail(path + ".type", "pre-tokenizer \"", type, "\" is not supported");
        }
        pre_tokenizer_.push_back(std::move(step));
    }

    void parse_decoder(const nlohmann::json& d, const std::string& path, const detail::JsonFields& f) {
        const std::string type = f.type(d, path);
        DecoderStep step;
        if (type == "Sequence") {
            const auto& list = f.need(d, "decoders", path);
            if (!list.is_array()) f.fail(path + ".decoders", "expected an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                parse_decoder(list[i], path + ".decoders[" + std::to_string(i) + "]", f);
            return;
        } else if (type == "Fuse") {
            fused_ = true;  // from here on the chain sees one string: Strip then acts on its start only
            return;
        } else if (type == "ByteLevel") {
            step.kind = DecoderStep::ByteLevel;
        } else if (type == "ByteFallback") {
            step.kind = DecoderStep::ByteFallback;
        } else if (type == "Replace") {
            step.kind = DecoderStep::Replace;
            step.a = f.literal_pattern(d, path);
            step.b = f.string(d, "content", path);
        } else if (type == "Strip") {
            step.kind = DecoderStep::Strip;
            step.a = f.character(d, "content", path);
            step.start = std::size_t(f.token_id(f.need(d, "start", path), path + ".start"));
            step.stop = std::size_t(f.token_id(f.need(d, "stop", path), path + ".stop"));
            if (fused_) {
                if (step.stop != 0)
                    f.fail(path + ".stop", "stripping the end of the fused text is not supported (streaming)");
                stream_strip_content_ = step.a;
                stream_strip_count_ = step.start;
                return;
            }
        } else if (type == "Metaspace") {
            step.kind = DecoderStep::Metaspace;
            step.a = f.character(d, "replacement", path);
            if (const auto scheme = f.optional_string(d, "prepend_scheme", path))
                step.drop_on_first = *scheme != "never";
            else
                step.drop_on_first = f.boolean(d, "add_prefix_space", path, true);
            first_differs_ = first_differs_ || step.drop_on_first;
        } else {
            f.fail(path + ".type", "decoder \"", type, "\" is not supported");
        }
        decoder_.push_back(std::move(step));
    }

    void parse_post_processor(const nlohmann::json& p, const std::string& path, const detail::JsonFields& f) {
        const std::string type = f.type(p, path);
        if (type == "Sequence") {
            const auto& list = f.need(p, "processors", path);
            if (!list.is_array()) f.fail(path + ".processors", "expected an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                parse_post_processor(list[i], path + ".processors[" + std::to_string(i) + "]", f);
        } else if (type == "ByteLevel") {
            // Only adjusts offsets.
        } else if (type == "TemplateProcessing") {
            const auto& single = f.need(p, "single", path);
            const auto& specials = f.need(p, "special_tokens", path);
            if (!single.is_array()) f.fail(path + ".single", "expected an array");
            if (!specials.is_object()) f.fail(path + ".special_tokens", "expected an object");
            template_.clear();
            for (std::size_t i = 0; i < single.size(); ++i) {
                const auto& item = single[i];
                const std::string ipath = path + ".single[" + std::to_string(i) + "]";
                if (item.is_object() && item.contains("Sequence")) {
                    template_.push_back({true, {}});
                } else if (item.is_object() && item.contains("SpecialToken")) {
                    const std::string id = f.string(item["SpecialToken"], "id", ipath + ".SpecialToken");
                    const auto it = specials.find(id);
                    if (it == specials.end())
                        f.fail(ipath, "special token \"", id, "\" is not in ", path, ".special_tokens");
                    const auto& ids = f.need(*it, "ids", path + ".special_tokens." + id);
                    if (!ids.is_array()) f.fail(path + ".special_tokens." + id + ".ids", "expected an array");
                    TemplateItem t{false, {}};
                    for (std::size_t k = 0; k < ids.size(); ++k)
                        t.ids.push_back(
                            f.token_id(ids[k], path + ".special_tokens." + id + ".ids[" + std::to_string(k) + "]"));
                    template_.push_back(std::move(t));
                } else {
                    f.fail(ipath, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
                }
            }
        } else if (type == "RobertaProcessing" || type == "BertProcessing") {
            auto pair_id = [&](const char* field) {
                const auto& v = f.need(p, field, path);
                if (!v.is_array() || v.size() != 2 || !v[0].is_string())
                    f.fail(path + "." + field, "expected [\"token\", id]");
                return f.token_id(v[1], path + "." + field + "[1]");
            };
            template_ = {{false, {pair_id("cls")}}, {true, {}}, {false, {pair_id("sep")}}};
        } else {
            f.fail(path + ".type", "post-processor \"", type, "\" is not supported");
        }
    }

    // Builds what the loaders leave implicit: added-token matchers, decoded pieces, BOS/EOS.
    void finish() {
        for (const auto& t : added_) {
            if (t.id >= std::int32_t(special_.size())) special_.resize(std::size_t(t.id) + 1, false);
            if (t.special) special_[std::size_t(t.id)] = true;
            if (t.normalized && !normalizer_.empty())
                normalized_added_.add({normalize(t.content), t.id, t.single_word, t.lstrip, t.rstrip});
            else
                raw_added_.add({t.content, t.id, t.single_word, t.lstrip, t.rstrip});
        }
        special_.resize(tokens_.size(), false);
        for (const auto& item : template_)
            for (const std::int32_t id : item.ids) check_id(id);
        pieces_.resize(tokens_.size());
        for (std::size_t i = 0; i < tokens_.size(); ++i)
            if (assigned_[i]) pieces_[i] = has_decoder_ ? apply_decoder(tokens_[i], false) : tokens_[i];

        auto first_known = [&](std::initializer_list<const char*> names) -> std::optional<std::int32_t> {
            for (const char* n : names)
                if (const auto it = added_ids_.find(std::string_view(n)); it != added_ids_.end()) return it->second;
            return std::nullopt;
        };
        const auto seq = std::find_if(template_.begin(), template_.end(), [](const auto& t) { return t.sequence; });
        for (auto it = template_.begin(); it != seq; ++it)
            if (!bos_ && !it->ids.empty()) bos_ = it->ids.front();
        if (seq != template_.end())
            for (auto it = seq + 1; it != template_.end(); ++it)
                if (!it->ids.empty()) eos_ = it->ids.back();
        if (!bos_) bos_ = first_known({"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>"});
        if (!eos_) eos_ = first_known({"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>"});
    }

    std::string name_;
    std::size_t id_bound_ = 0;  // ids must stay below this (see grow_ids)
    BpeModel model_;
    std::vector<std::string> tokens_;  // by id: the vocabulary spelling (added tokens: their content)
    std::vector<bool> assigned_;
    std::vector<bool> special_;
    std::vector<std::string> pieces_;  // by id: decoded bytes when not first
    std::vector<AddedToken> added_;
    detail::StringIdMap added_ids_;
    detail::AddedTokenMatcher raw_added_, normalized_added_;
    std::vector<NormalizerStep> normalizer_;
    std::vector<PreTokenizerStep> pre_tokenizer_;
    std::vector<DecoderStep> decoder_;
    bool has_decoder_ = false, fused_ = false, first_differs_ = false;
    std::string stream_strip_content_;
    std::size_t stream_strip_count_ = 0;
    std::vector<TemplateItem> template_;
    std::optional<std::int32_t> bos_, eos_;
};

}  // namespace lamina
