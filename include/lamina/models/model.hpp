#pragma once
// Model<Arch>: a composed architecture with its config and weights, loaded once and then immutable — shareable by
// any number of sessions and threads. A Session is one sequence's state: the per-layer caches, the scratch arena
// (sized at creation from the config and the longest chunk, so a forward call allocates nothing) and the position.
#include "lamina/layers/weights.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/encoder.hpp"

#include <array>
#include <istream>
#include <ostream>

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
    if constexpr (requires { s.truncate(position); }) {
        // A cache behind the position belongs to a layer this session's schedule skips: it holds nothing to forget.
        if (s.size() > position) s.truncate(position);
    } else if constexpr (requires { s.reset(); }) {
        detail::fail("Session::truncate: a recurrent (SSM) layer cannot roll back; take a snapshot() before the tokens and "
                         "restore() it instead");
    } else if constexpr (requires { s.begin(); }) {
        for (auto& x : s) truncate_state(x, position);
    } else {
        std::apply([&](auto&... parts) { (truncate_state(parts, position), ...); }, s);
    }
}

// Calls fn(leaf) for every layer state (KvCache, SsmState: the types with save/load) of a stack state built from
// tuples and vectors; with a second state of the same structure, fn(leaf, other_leaf).
template <class S, class Fn>
void for_each_layer_state(S& s, Fn&& fn) {
    if constexpr (requires(std::ostream& o) { s.save(o); })
        fn(s);
    else if constexpr (requires { s.begin(); })
        for (auto& x : s) for_each_layer_state(x, fn);
    else
        std::apply([&](auto&... parts) { (for_each_layer_state(parts, fn), ...); }, s);
}
template <class S, class Fn>
void for_each_layer_state(S& s, const S& other, Fn&& fn) {
    if constexpr (requires(std::ostream& o) { s.save(o); }) {
        fn(s, other);
    } else if constexpr (requires { s.begin(); }) {
        LAMINA_CHECK(s.size() == other.size(), "Session: states of different structure (", s.size(), " vs ",
                     other.size(), " layers)");
        for (std::size_t i = 0; i < s.size(); ++i) for_each_layer_state(s[i], other[i], fn);
    } else {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (for_each_layer_state(std::get<I>(s), std::get<I>(other), fn), ...);
        }(std::make_index_sequence<std::tuple_size_v<S>>{});
    }
}
}  // namespace detail

// Early exit for a decode step (Model::forward_early_exit): after each layer from `min_layers` on, the step stops
// when the logit lens (final norm + LM head on the hidden state) puts more than `top_probability` on its top token,
// or when the hidden state's cosine similarity to the previous layer's exceeds `cosine` (0 disables a test). The
// layers left out still cache the token's keys, computed from the exit hidden state (CALM's state propagation).
struct EarlyExit {
    int min_layers = 1;
    float top_probability = 0.f;
    float cosine = 0.f;
};

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

    // weight_dtype: a DType (f32, bf16), a WeightFormat (also q8, q4) or a WeightPolicy (q8 / q4 with the LM head in
    // another format): see layers/weight_format.hpp.
    template <TensorSource Source, class Format = DType>
        requires(std::same_as<Format, DType> || std::same_as<Format, WeightFormat> || std::same_as<Format, WeightPolicy>)
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
        std::size_t scratch_bytes() const { return arena_.capacity(); }
        State& state() { return state_; }
        const LayerSchedule& schedule() const { return schedule_; }
        // Back to an empty sequence (the caches keep their memory).
        void reset() {
            detail::clear_state(state_);
            position_ = 0;
        }
        // Forgets the tokens from `position` on (speculative-decoding rollback). A copy of a session is a fork.
        // Recurrent (SSM) state cannot roll back: take a snapshot() before the tokens and restore() it instead.
        void truncate(std::int64_t position) {
            LAMINA_CHECK(position >= 0 && position <= position_, "Session::truncate: position ", position,
                         " is outside 0..", position_);
            detail::truncate_state(state_, position);
            position_ = position;
        }

        // The sequence state without the scratch arena: cheap to keep around for a rollback of any layer type.
        struct Snapshot {
            State state;
            std::int64_t position = 0;
        };
        Snapshot snapshot() const { return {state_, position_}; }
        // Back to a snapshot of this session (or a fork of it); copies into the existing buffers.
        void restore(const Snapshot& s) {
            detail::for_each_layer_state(state_, s.state, [](auto& to, const auto& from) { to.assign(from); });
            position_ = s.position;
        }

        // Bounds every linear KV cache of the session (see KvEviction; ring caches are bounded already).
        void set_kv_eviction(const KvEviction& e) {
            detail::for_each_layer_state(state_, [&](auto& leaf) {
                if constexpr (requires { leaf.set_eviction(e); }) leaf.set_eviction(e);
            });
        }
        // Bytes held by the per-layer state (caches, recurrent state).
        std::size_t state_bytes() const {
            std::size_t n = 0;
            detail::for_each_layer_state(state_, [&](const auto& leaf) { n += leaf.bytes(); });
            return n;
        }

        // Save/restore: a header naming the model shape, schedule and position, then every layer state. Restoring
        // into a session of another model shape or schedule fails with a lamina::Error before any state changes
        // that the header can catch; a stream truncated inside a layer leaves the session reset.
        void save(std::ostream& out) const {
            out.write(kMagic, sizeof kMagic);
            for (std::int64_t v : shape_fingerprint()) serial::write_value(out, v);
            serial::write_value(out, position_);
            detail::for_each_layer_state(state_, [&](const auto& leaf) { leaf.save(out); });
        }
        void load(std::istream& in) {
            char magic[sizeof kMagic] = {};
            serial::read_values(in, magic, sizeof magic, "the session header");
            LAMINA_CHECK(std::equal(magic, magic + sizeof magic, kMagic), "session restore: not a lamina session");
            const char* names[] = {"n_layers", "d_model", "vocab_size", "max_positions", "n_heads", "n_kv_heads",
                                   "head_dim", "schedule steps", "schedule hash"};
            const auto expected = shape_fingerprint();
            for (std::size_t i = 0; i < expected.size(); ++i) serial::expect_value(in, expected[i], names[i]);
            const auto position = serial::read_value<std::int64_t>(in, "the position");
            try {
                detail::for_each_layer_state(state_, [&](auto& leaf) { leaf.load(in); });
            } catch (const Error&) {
                reset();
                throw;
            }
            position_ = position;
        }

    private:
        friend class Model;
        static constexpr char kMagic[8] = {'L', 'A', 'M', 'I', 'N', 'A', 'S', '1'};
        Session(const Model& m, State s, std::size_t arena_bytes, std::int64_t max_chunk, LayerSchedule schedule)
            : state_(std::move(s)), arena_(arena_bytes), max_chunk_(max_chunk), schedule_(std::move(schedule)) {
            const ModelConfig& c = m.config_;
            std::int64_t hash = 0;
            for (const LayerStep& st : schedule_.steps())
                hash = hash * 131 + st.layer * 4 + st.mixer * 2 + st.ffn;
            shape_ = {c.n_layers, c.d_model, c.vocab_size, c.max_positions, c.n_heads, c.n_kv_heads, c.head_dim,
                      std::int64_t(schedule_.steps().size()), hash};
        }
        const std::array<std::int64_t, 9>& shape_fingerprint() const { return shape_; }

        State state_;
        Arena arena_;
        std::int64_t position_ = 0, max_chunk_ = 0;
        LayerSchedule schedule_;  // empty: every layer once
        std::array<std::int64_t, 9> shape_{};
    };

    // A fresh sequence whose forward calls take at most max_chunk tokens at a time (longer inputs are chunked).
    // With a schedule, the sequence runs the model's layers in that order (LayerSchedule): a separate session of
    // the same model with layers skipped is the draft of self-speculative decoding.
    Session session(std::int64_t max_chunk = 256, LayerSchedule schedule = {}) const {
        LAMINA_CHECK(max_chunk > 0, "Model::session: max_chunk must be positive, got ", max_chunk);
        State state = Arch::make_state(config_, config_.max_positions);
        if (!schedule.empty()) {
            if constexpr (RunsLayerSchedules<Arch>) {
                schedule.validate(config_.n_layers);
                Arch::add_schedule_states(config_, state, schedule.steps(), config_.max_positions);
            } else {
                detail::fail("Model::session: this architecture does not run layer schedules");
            }
        }
        return Session(*this, std::move(state), Arch::scratch_bytes(config_, max_chunk) + 16 * simd::kAlign,
                       max_chunk, std::move(schedule));
    }

    // Feeds tokens to the session, writing outputs (logits, or hidden states for an encoder) for every token
    // ([T, width]) or the last only ([1, width]).
    void forward(Session& s, std::span<const std::int32_t> tokens, TensorView<float> logits,
                 ThreadPool* pool = nullptr, const ForwardInputs& in = {}) const {
        for_chunks(s, tokens, logits, pool, in, [&](auto chunk, TensorView<float> out, const ForwardContext& ctx) {
            if constexpr (RunsLayerSchedules<Arch>) {
                if (!s.schedule_.empty()) {
                    Arch::forward_steps(weights_, config_, s.state_, chunk, out, ctx, s.schedule_.steps(),
                                        [](int, TensorView<const float>) { return false; });
                    return;
                }
            }
            Arch::forward(weights_, config_, s.state_, chunk, out, ctx);
        });
    }

    // forward() that also writes the logit lens after `layers` layers (schedule steps) of the session: the
    // (final, early) logits pair of DoLa-style contrastive decoding, both [T or 1, vocab].
    void forward_with_lens(Session& s, std::span<const std::int32_t> tokens, TensorView<float> logits, int layers,
                           TensorView<float> early_logits, ThreadPool* pool = nullptr) const {
        const int n = s.schedule_.empty() ? config_.n_layers : int(s.schedule_.steps().size());
        LAMINA_CHECK(layers >= 1 && layers < n, "Model::forward_with_lens: the lens layer ", layers,
                     " is outside 1..", n - 1);
        LAMINA_CHECK(early_logits.rows() == logits.rows() && early_logits.cols() == logits.cols(),
                     "Model::forward_with_lens: early logits must have the shape of the logits");
        for_chunks(s, tokens, logits, pool, {}, [&](auto chunk, TensorView<float> out, const ForwardContext& ctx) {
            const std::int64_t t0 = chunk.data() - tokens.data(), n = std::int64_t(chunk.size());
            const TensorView<float> early = logits.rows() == 1 ? early_logits : early_logits.slice_rows(t0, n);
            Arch::forward_steps(weights_, config_, s.state_, chunk, out, ctx, s.schedule_.steps(),
                                [&](int k, TensorView<const float> x) {
                                    if (k + 1 == layers)
                                        Arch::lens(weights_, config_, early.rows() == n ? x : x.slice_rows(n - 1, 1),
                                                   early, ctx);
                                    return false;
                                });
        });
    }

    // One decode step (one token) that may stop before the last layer (EarlyExit). Returns the layers (schedule
    // steps) run in full; the logits are the lens at that depth.
    int forward_early_exit(Session& s, std::int32_t token, TensorView<float> logits, const EarlyExit& exit,
                           ThreadPool* pool = nullptr) const {
        LAMINA_CHECK(logits.rows() == 1, "Model::forward_early_exit: one row of logits");
        int full = 0;
        for_chunks(s, std::span(&token, 1), logits, pool, {}, [&](auto chunk, TensorView<float> out, const ForwardContext& ctx) {
            ArenaScope scope(*ctx.arena);
            const TensorView<float> previous(ctx.arena->alloc<float>(std::size_t(config_.d_model)).data(), {1, config_.d_model});
            const TensorView<float> lens(ctx.arena->alloc<float>(std::size_t(config_.vocab_size)).data(), {1, config_.vocab_size});
            bool have_previous = false;
            full = Arch::forward_steps(weights_, config_, s.state_, chunk, out, ctx, s.schedule_.steps(),
                                       [&](int k, TensorView<const float> x) {
                bool stop = false;
                if (k + 1 >= exit.min_layers) {
                    if (exit.cosine > 0.f && have_previous)
                        stop = cosine_similarity(x.row(0), previous.row(0), config_.d_model) > exit.cosine;
                    if (!stop && exit.top_probability > 0.f) {
                        Arch::lens(weights_, config_, x, lens, ctx);
                        stop = top_probability(lens.row(0), config_.vocab_size) > exit.top_probability;
                    }
                }
                std::copy_n(x.row(0), config_.d_model, previous.row(0));
                have_previous = true;
                return stop;
            });
        });
        return full;
    }

    // A batched decode step: token b continues sessions[b]; logits [B, vocab]. Linear layers run as one GEMM over
    // the B rows, attention and recurrent state per session. Sessions may be at different positions; scratch comes
    // from the first session's arena, so B is at most its max_chunk. Layer schedules are not batched.
    static constexpr std::size_t kMaxBatch = 64;
    void forward_batch(std::span<Session* const> sessions, std::span<const std::int32_t> tokens,
                       TensorView<float> logits, ThreadPool* pool = nullptr) const {
        const std::size_t B = sessions.size();
        LAMINA_CHECK(B > 0 && B <= kMaxBatch && tokens.size() == B && logits.rows() == std::int64_t(B) &&
                         logits.cols() == Arch::output_width(config_),
                     "Model::forward_batch: ", B, " sessions (at most ", kMaxBatch, "), ", tokens.size(),
                     " tokens and [", logits.rows(), ", ", logits.cols(), "] logits must agree");
        LAMINA_CHECK(std::int64_t(B) <= sessions[0]->max_chunk_, "Model::forward_batch: ", B,
                     " sessions exceed the first session's max_chunk ", sessions[0]->max_chunk_);
        std::array<ForwardContext, kMaxBatch> rows;
        for (std::size_t b = 0; b < B; ++b) {
            Session& s = *sessions[b];
            LAMINA_CHECK(s.schedule_.empty(), "Model::forward_batch: session ", b, " has a layer schedule");
            LAMINA_CHECK(s.position_ < config_.max_positions, "Model::forward_batch: session ", b, " is full");
            for (std::size_t o = 0; o < b; ++o)
                LAMINA_CHECK(sessions[o] != sessions[b], "Model::forward_batch: session ", b, " appears twice");
            rows[b] = ForwardContext{pool, &sessions[0]->arena_, &tables_, s.position_, tokens.subspan(b, 1)};
        }
        const ForwardContext ctx{pool, &sessions[0]->arena_, &tables_, 0, tokens};
        Arch::forward_batch(weights_, config_, [&](std::size_t b) -> State& { return sessions[b]->state_; }, tokens,
                            logits, ctx, std::span<const ForwardContext>(rows.data(), B));
        for (Session* s : sessions) ++s->position_;
    }

private:
    // Checks a call and feeds it to the session in chunks of at most max_chunk tokens: run(chunk, out, ctx).
    template <class Run>
    void for_chunks(Session& s, std::span<const std::int32_t> tokens, TensorView<float> logits, ThreadPool* pool,
                    const ForwardInputs& in, Run&& run) const {
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
            run(chunk, out, ctx);
            s.position_ += n;
        }
    }

    static float cosine_similarity(const float* a, const float* b, std::int64_t n) {
        double ab = 0, aa = 0, bb = 0;
        for (std::int64_t i = 0; i < n; ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
        return aa > 0 && bb > 0 ? float(ab / std::sqrt(aa * bb)) : 0.f;
    }
    static float top_probability(const float* logits, std::int64_t n) {
        const float m = *std::max_element(logits, logits + n);
        double sum = 0;
        for (std::int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i] - m));
        return float(1.0 / sum);
    }

    ModelConfig config_;
    Weights weights_;
    SharedTables tables_;
};

}  // namespace lamina
