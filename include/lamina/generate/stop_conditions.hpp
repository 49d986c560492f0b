#pragma once
// When a generated sequence ends — an end-of-sequence id, a stop string in the decoded text, a token budget, or
// the caller's streaming callback saying so — and the streaming itself: StopChecker sees every generated token
// once, decodes it (with a tokenizer) into the complete UTF-8 text it finishes, hands both to the callback and
// reports why generation stops, if it does. Every generator (sampled, speculative, beam) goes through it.
#include "lamina/io/token_stream_decoder.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lamina {

enum class StopReason { max_tokens, eos, stop_string, callback, context_full };

inline const char* stop_reason_name(StopReason r) {
    constexpr const char* names[] = {"max_tokens", "eos", "stop_string", "callback", "context_full"};
    return names[int(r)];
}

struct StopConditions {
    std::int64_t max_new_tokens = 128;
    std::vector<std::int32_t> eos_ids;
    std::vector<std::string> stop_strings;  // matched in the decoded text; needs a tokenizer
};

// The default streaming callback: none.
struct NoCallback {
    void operator()(std::int32_t, std::string_view) const {}
};

// A streaming callback is called as f(id, text) with the text this token completed (empty without a tokenizer,
// or while a multi-byte character is unfinished); it may return false to stop the generation.
template <class F>
concept TokenCallback = std::invocable<F&, std::int32_t, std::string_view>;

class StopChecker {
public:
    StopChecker(const StopConditions& c, const Tokenizer* tokenizer) : conditions_(c) {
        LAMINA_CHECK(c.max_new_tokens >= 0, "StopConditions: max_new_tokens must be >= 0, got ", c.max_new_tokens);
        LAMINA_CHECK(c.stop_strings.empty() || tokenizer, "StopConditions: stop strings need a tokenizer");
        for (const auto& s : c.stop_strings) {
            LAMINA_CHECK(!s.empty(), "StopConditions: empty stop string");
            longest_stop_ = std::max(longest_stop_, s.size());
        }
        if (tokenizer) decoder_.emplace(*tokenizer);
        window_.reserve(4 * longest_stop_ + 64);
    }

    std::int64_t generated() const { return generated_; }
    bool exhausted() const { return generated_ >= conditions_.max_new_tokens; }

    // Records the next generated token, streams it, and says whether the generation ends with it.
    template <TokenCallback OnToken>
    std::optional<StopReason> push(std::int32_t id, OnToken& on_token) {
        ++generated_;
        std::string text;
        if (decoder_) text = decoder_->push(id);
        bool keep_going = true;
        if constexpr (std::is_void_v<std::invoke_result_t<OnToken&, std::int32_t, std::string_view>>)
            on_token(id, std::string_view(text));
        else
            keep_going = on_token(id, std::string_view(text));
        if (std::find(conditions_.eos_ids.begin(), conditions_.eos_ids.end(), id) != conditions_.eos_ids.end())
            return StopReason::eos;
        if (found_stop_string(text)) return StopReason::stop_string;
        if (!keep_going) return StopReason::callback;
        if (exhausted()) return StopReason::max_tokens;
        return std::nullopt;
    }

private:
    // Looks for a stop string ending in the new text; the window keeps just enough earlier text for a stop string
    // that straddles tokens.
    bool found_stop_string(const std::string& text) {
        if (conditions_.stop_strings.empty() || text.empty()) return false;
        window_ += text;
        bool found = false;
        for (const auto& s : conditions_.stop_strings) {
            const std::size_t from = window_.size() >= text.size() + s.size() - 1 ? window_.size() - text.size() - s.size() + 1 : 0;
            found = found || window_.find(s, from) != std::string::npos;
        }
        if (window_.size() > longest_stop_) window_.erase(0, window_.size() - longest_stop_);
        return found;
    }

    const StopConditions& conditions_;
    std::optional<TokenStreamDecoder> decoder_;
    std::string window_;
    std::size_t longest_stop_ = 0;
    std::int64_t generated_ = 0;
};

}  // namespace lamina
