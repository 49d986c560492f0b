#pragma once
// Model<Arch>: a composed architecture with its config and weights, loaded once and then immutable — shareable by
// any number of sessions and threads. A Session is one sequence's state: the per-layer caches, the scratch arena
// (sized at creation from the config and the longest chunk, so a forward call allocates nothing) and the position.
#include "lamina/layers/weights.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/encoder.hpp"

namespace lamina {

namespace detail {
// Empties per-sequence state of any stack shape: tuples and vectors of layer states, each with truncate(0)
// (KvCache) or reset() (recurrent state).
template <class S>
void clear_state(S& s) {
    if constexpr (requires { s.truncate(0); })
        s.truncate(0);
    else if constexpr (requires { s.reset(); })
        s.reset();
    else if constexpr (requires { s.begin(); })
        for (auto& x : s) clear_state(x);
    else
        std::apply([](auto&... parts) { (clear_state(parts), ...); }, s);
}

// Rolls per-sequence state back to `position` tokens. Only caches that remember every position (KvCache) can;
// recurrent state (Mamba) has folded the tokens in and refuses.
template <class S>
void truncate_state(S& s, std::int64_t position) {
    if constexpr (requires { s.truncate(position); })
        s.truncate(position);
    else if constexpr (requires { s.reset(); })
        detail::fail("Session::truncate: a recurrent (SSM) layer cannot roll back; copy the session before the tokens instead");
    else if constexpr (requires { s.begin(); })
        for (auto& x : s) truncate_state(x, position);
    else
        std::apply([&](auto&... parts) { (truncate_state(parts, position), ...); }, s);
}
}  // namespace detail

// Per-call inputs besides the token ids, for the models that read them (Model::forward checks their sizes).
struct ForwardInputs {
    std::span<const std::int32_t> token_types = {};  // one per token of the call (BERT segments); empty: all type 0
    std::span<const std::uint8_t> key_padding = {};  // HF attention_mask over positions [0, position + T); empty: none
};

template <class Arch>
class Model {
public:
    using Weights = typename Arch::Weights;
    using State = typename Arch::State;

    // weight_dtype: a DType (f32, bf16) or a WeightFormat (also q8, q4: see layers/weight_format.hpp).
    template <TensorSource Source, class Format = DType>
        requires(std::same_as<Format, DType> || std::same_as<Format, WeightFormat>)
    Model(const ModelConfig& config, const Source& source, Format weight_dtype = DType::f32) : config_(config) {
        config_.validate();
        WeightLoader<Source> loader(source, weight_dtype);
        weights_.visit(loader, config_);
        Arch::prepare(config_, tables_);
    }

    const ModelConfig& config() const { return config_; }
    const Weights& weights() const { return weights_; }

    class Session {
    public:
        std::int64_t position() const { return position_; }
        std::int64_t max_chunk() const { return max_chunk_; }
        State& state() { return state_; }
        // Back to an empty sequence (the caches keep their memory).
        void reset() {
            detail::clear_state(state_);
            position_ = 0;
        }
        // Forgets the tokens from `position` on (speculative-decoding rollback). A copy of a session is a fork.
        void truncate(std::int64_t position) {
            LAMINA_CHECK(position >= 0 && position <= position_, "Session::truncate: position ", position,
                         " is outside 0..", position_);
            detail::truncate_state(state_, position);
            position_ = position;
        }

    private:
        friend class Model;
        Session(State s, std::size_t arena_bytes, std::int64_t max_chunk)
            : state_(std::move(s)), arena_(arena_bytes), max_chunk_(max_chunk) {}
        State state_;
        Arena arena_;
        std::int64_t position_ = 0, max_chunk_ = 0;
    };

    // A fresh sequence whose forward calls take at most max_chunk tokens at a time (longer inputs are chunked).
    Session session(std::int64_t max_chunk = 256) const {
        LAMINA_CHECK(max_chunk > 0, "Model::session: max_chunk must be positive, got ", max_chunk);
        return Session(Arch::make_state(config_, config_.max_positions),
                       Arch::scratch_bytes(config_, max_chunk) + 16 * simd::kAlign, max_chunk);
    }

    // Feeds tokens to the session, writing outputs (logits, or hidden states for an encoder) for every token
    // ([T, width]) or the last only ([1, width]).
    void forward(Session& s, std::span<const std::int32_t> tokens, TensorView<float> logits,
                 ThreadPool* pool = nullptr, const ForwardInputs& in = {}) const {
        const std::int64_t T = std::int64_t(tokens.size());
        LAMINA_CHECK(T > 0, "Model::forward: no tokens");
        LAMINA_CHECK(s.position_ + T <= config_.max_positions, "Model::forward: ", s.position_, " + ", T,
                     " tokens exceed the context of ", config_.max_positions);
        LAMINA_CHECK(logits.rows() == T || logits.rows() == 1, "Model::forward: logits have ", logits.rows(),
                     " rows for ", T, " tokens");
        LAMINA_CHECK(logits.cols() == Arch::output_width(config_), "Model::forward: output has ", logits.cols(),
                     " columns, the model produces ", Arch::output_width(config_));
        LAMINA_CHECK(in.token_types.empty() || std::int64_t(in.token_types.size()) == T, "Model::forward: ",
                     in.token_types.size(), " token types for ", T, " tokens");
        LAMINA_CHECK(in.key_padding.empty() || std::int64_t(in.key_padding.size()) >= s.position_ + T,
                     "Model::forward: the key padding mask covers ", in.key_padding.size(), " positions, need ",
                     s.position_ + T);
        for (std::int64_t t0 = 0; t0 < T; t0 += s.max_chunk_) {
            const std::int64_t n = std::min(s.max_chunk_, T - t0);
            const bool all = logits.rows() == T;
            const TensorView<float> out = all ? logits.slice_rows(t0, n) : logits;
            const auto chunk = tokens.subspan(std::size_t(t0), std::size_t(n));
            const auto types = in.token_types.empty() ? in.token_types
                                                      : in.token_types.subspan(std::size_t(t0), std::size_t(n));
            const ForwardContext ctx{pool, &s.arena_, &tables_, s.position_, chunk, types, in.key_padding};
            Arch::forward(weights_, config_, s.state_, chunk, out, ctx);
            s.position_ += n;
        }
    }

private:
    ModelConfig config_;
    Weights weights_;
    SharedTables tables_;
};

}  // namespace lamina
