#pragma once
// Encoder-decoder models (T5 family; the original transformer's shape).
//
//   source ids → embedding → encoder stack (bidirectional) → final norm → memory [S, d_model]
//                                                      ↓ projected once into every cross-attention's K/V
//   target ids → embedding → decoder stack: per layer x += self_attn(n(x)); x += cross_attn(n(x)); x += ffn(n(x))
//              → final norm (→ ·d_model^−½ when the head is tied, as T5 v1.0) → LM head → logits
//
// EncoderDecoder<…> is the architecture (types and static functions, like DecoderOnly); EncoderDecoderModel<Arch>
// owns config, weights and shared tables, and hands out Sessions: encode() a source once, then forward() target
// tokens — a whole teacher-forced target, chunks, or one token per step — through the self-attention caches and
// the cached cross K/V. The decoder's depth is n_decoder_layers (0: n_layers, as HF's num_decoder_layers).
//
// Weights shared by all layers of a stack (T5's relative bias table, which HF keeps in layer 0) are "stack tables":
// a policy with StackWeights, loaded as "<stack>.<name>", and install(), which puts them into SharedTables before
// the layers are prepared.
#include "lamina/layers/cross_attention.hpp"
#include "lamina/layers/embedding.hpp"
#include "lamina/layers/t5_bias.hpp"
#include "lamina/models/model.hpp"
#include "lamina/models/stack.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

namespace lamina {

// Decoder layers without cross-attention (decoder stacks where only some layers attend to the memory).
struct NoCrossAttention {
    struct Weights {
        template <class V>
        void visit(V&, const std::string&, const ModelConfig&) {}
    };
    struct State {
        void reset() {}
    };
    static State make_state(const ModelConfig&, std::int64_t) { return {}; }
    static void prepare(const ModelConfig&, SharedTables&) {}
    static std::size_t scratch_bytes(const ModelConfig&, std::int64_t) { return 0; }
    static std::size_t memory_scratch_bytes(const ModelConfig&) { return 0; }
    static void set_memory(const Weights&, const ModelConfig&, State&, TensorView<const float>,
                           std::span<const std::uint8_t>, const ForwardContext&) {}
    static void forward(const Weights&, const ModelConfig&, State&, TensorView<const float>, TensorView<float>,
                        const ForwardContext&) {}
};

template <class X>
concept CrossMixer = requires(const typename X::Weights& w, const ModelConfig& c, typename X::State& s,
                              TensorView<const float> x, TensorView<float> y, const ForwardContext& ctx) {
    { X::make_state(c, std::int64_t{}) } -> std::same_as<typename X::State>;
    s.reset();
    X::set_memory(w, c, s, x, std::span<const std::uint8_t>{}, ctx);
    X::forward(w, c, s, x, y, ctx);
    { X::scratch_bytes(c, std::int64_t{}) } -> std::convertible_to<std::size_t>;
    { X::memory_scratch_bytes(c) } -> std::convertible_to<std::size_t>;
};

// A pre-norm decoder layer (T5LayerSelfAttention, T5LayerCrossAttention, T5LayerFF): each sublayer normalises the
// residual stream with its own norm and adds its output back.
template <Norm N, TokenMixer SelfAttn, CrossMixer Cross, ChannelMixer Ffn>
struct DecoderBlock {
    static constexpr bool has_cross = !std::is_same_v<Cross, NoCrossAttention>;

    struct Weights {
        typename N::Weights self_norm, cross_norm, ffn_norm;
        typename SelfAttn::Weights self_attn;
        typename Cross::Weights cross_attn;
        typename Ffn::Weights ffn;
        void share(const Weights& first) { share_weights(ffn, first.ffn); }  // SharedFfn: the first layer's set
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            self_norm.visit(v, path + ".self_norm", c.d_model);
            self_attn.visit(v, path + ".self_attn", c);
            if constexpr (has_cross) {
                cross_norm.visit(v, path + ".cross_norm", c.d_model);
                cross_attn.visit(v, path + ".cross_attn", c);
            }
            ffn_norm.visit(v, path + ".ffn_norm", c.d_model);
            ffn.visit(v, path + ".ffn", c);
        }
    };
    struct State {
        typename SelfAttn::State self;
        typename Cross::State cross;
        void reset() {
            detail::clear_state(self);
            cross.reset();
        }
    };

    // The self-attention cache holds `capacity` target positions, the cross-attention's `memory_capacity` memory rows.
    static State make_state(const ModelConfig& c, std::int64_t capacity, std::int64_t memory_capacity) {
        return State{SelfAttn::make_state(c, capacity), Cross::make_state(c, memory_capacity)};
    }
    static State make_state(const ModelConfig& c, std::int64_t capacity) { return make_state(c, capacity, capacity); }
    static void prepare(const ModelConfig& c, SharedTables& t) {
        SelfAttn::prepare(c, t);
        Cross::prepare(c, t);
    }
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const std::size_t h = std::size_t(T * c.d_model) * sizeof(float) + simd::kAlign;
        return h + std::max({SelfAttn::scratch_bytes(c, T), Cross::scratch_bytes(c, T), Ffn::scratch_bytes(c, T)});
    }
    static std::size_t memory_scratch_bytes(const ModelConfig& c) { return Cross::memory_scratch_bytes(c); }

    static void set_memory(const Weights& w, const ModelConfig& c, State& s, TensorView<const float> memory,
                           std::span<const std::uint8_t> key_padding, const ForwardContext& ctx) {
        Cross::set_memory(w.cross_attn, c, s.cross, memory, key_padding, ctx);
    }

    // x: the decoder's residual stream [T, d_model], updated in place.
    static void forward(const Weights& w, const ModelConfig& c, State& s, TensorView<float> x,
                        const ForwardContext& ctx) {
        const std::int64_t T = x.rows(), d = x.cols();
        ArenaScope scope(*ctx.arena);
        const TensorView<float> h(ctx.arena->alloc<float>(std::size_t(T * d)).data(), {T, d});
        N::apply(w.self_norm, x, h, c.norm_eps);
        SelfAttn::forward(w.self_attn, c, s.self, h, x, ctx);
        if constexpr (has_cross) {
            N::apply(w.cross_norm, x, h, c.norm_eps);
            Cross::forward(w.cross_attn, c, s.cross, h, x, ctx);
        }
        N::apply(w.ffn_norm, x, h, c.norm_eps);
        Ffn::forward(w.ffn, c, h, x, ctx);
    }
};

// Stack tables: weights of a whole stack installed into SharedTables (see the header comment).
template <class P>
concept StackTables = requires(typename P::StackWeights& w, const ModelConfig& c, SharedTables& t) {
    P::install(std::as_const(w), c, t);
};
struct NoStackTables {
    struct StackWeights {
        template <class V>
        void visit(V&, const std::string&, const ModelConfig&) {}
    };
    static void install(const StackWeights&, const ModelConfig&, SharedTables&) {}
};

// How the decoder's head treats a tied embedding: T5 v1.0 (HF T5ForConditionalGeneration with
// tie_word_embeddings) rescales the decoder output by d_model^−½ before the tied head; untied heads never scale.
enum class TiedHeadScale { none, rsqrt_d_model };

// The configs of the two stacks: the encoder's is the model's, the decoder's has n_layers = n_decoder_layers.
struct EncoderDecoderConfig {
    ModelConfig encoder, decoder;
    explicit EncoderDecoderConfig(const ModelConfig& c) : encoder(c), decoder(c) {
        if (c.n_decoder_layers) decoder.n_layers = c.n_decoder_layers;
    }
};

template <class Embedding, class EncoderStack, class DecoderStack, StackTables EncoderTables = NoStackTables,
          StackTables DecoderTables = NoStackTables, Norm FinalNorm = RmsNorm,
          TiedHeadScale HeadScale = TiedHeadScale::rsqrt_d_model>
struct EncoderDecoder {
    using Configs = EncoderDecoderConfig;

    struct Weights {
        typename Embedding::Weights embed;  // shared by both stacks (T5's `shared`)
        typename EncoderTables::StackWeights encoder_tables;
        typename EncoderStack::Weights encoder;
        typename FinalNorm::Weights encoder_norm;
        typename DecoderTables::StackWeights decoder_tables;
        typename DecoderStack::Weights decoder;
        typename FinalNorm::Weights decoder_norm;
        Linear lm_head;
        template <class V>
        void visit(V& v, const Configs& c) {
            embed.visit(v, "embed", c.encoder);
            encoder_tables.visit(v, "encoder", c.encoder);
            encoder.visit(v, "encoder.layers", c.encoder);
            encoder_norm.visit(v, "encoder.final_norm", c.encoder.d_model);
            decoder_tables.visit(v, "decoder", c.decoder);
            decoder.visit(v, "decoder.layers", c.decoder);
            decoder_norm.visit(v, "decoder.final_norm", c.decoder.d_model);
            if (c.decoder.tie_embeddings)
                v.linear_from("lm_head", lm_head, embed.tokens, c.decoder.vocab_size, c.decoder.d_model);
            else
                v.linear("lm_head", lm_head, c.decoder.vocab_size, c.decoder.d_model, false);
        }
    };
    struct State {
        typename EncoderStack::State encoder;  // scratch K/V of the source, rebuilt by every encode
        typename DecoderStack::State decoder;  // target self-attention caches and the memory's cross K/V
    };

    static State make_state(const Configs& c, std::int64_t max_source, std::int64_t max_target) {
        return State{EncoderStack::make_state(c.encoder, max_source),
                     DecoderStack::make_state(c.decoder, max_target, max_source)};
    }
    static void prepare(const Weights& w, const Configs& c, SharedTables& t) {
        EncoderTables::install(w.encoder_tables, c.encoder, t);
        DecoderTables::install(w.decoder_tables, c.decoder, t);
        EncoderStack::prepare(c.encoder, t);
        DecoderStack::prepare(c.decoder, t);
    }

    static std::size_t encode_scratch_bytes(const Configs& c, std::int64_t max_source) {
        std::size_t memory = 0;
        DecoderStack::each_block_type([&]<class B>(std::type_identity<B>) {
            if constexpr (requires { B::memory_scratch_bytes(c.decoder); })
                memory = std::max(memory, std::size_t(B::memory_scratch_bytes(c.decoder)));
        });
        return std::max(EncoderStack::scratch_bytes(c.encoder, max_source), memory);
    }
    static std::size_t decode_scratch_bytes(const Configs& c, std::int64_t T) {
        const std::size_t x = std::size_t(T * c.decoder.d_model) * sizeof(float) + simd::kAlign;
        return x + DecoderStack::scratch_bytes(c.decoder, T);
    }

    // memory [S, d_model] ← the encoder's last hidden state of the S source tokens; then every cross-attention of
    // the decoder projects it into its K/V. The decoder's self-attention caches are emptied: a new sequence starts.
    static void encode(const Weights& w, const Configs& c, State& s, std::span<const std::int32_t> source,
                       TensorView<float> memory, const ForwardContext& ctx) {
        detail::clear_state(s.encoder);
        detail::clear_state(s.decoder);
        Embedding::embed(w.embed, c.encoder, source, memory, ctx);
        EncoderStack::forward(w.encoder, c.encoder, s.encoder, memory, ctx);
        FinalNorm::apply(w.encoder_norm, memory, memory, c.encoder.norm_eps);
        const auto set_memory = [&]<class B>(std::type_identity<B>, const auto& lw, auto& ls) {
            if constexpr (requires { B::set_memory(lw, c.decoder, ls, memory, ctx.key_padding, ctx); })
                B::set_memory(lw, c.decoder, ls, memory, ctx.key_padding, ctx);
        };
        DecoderStack::each_layer(w.decoder, s.decoder, set_memory);
    }

    // Decoder logits [T, vocab] for target tokens at positions ctx.pos0 …, or [1, vocab] for the last one only.
    static void decode(const Weights& w, const Configs& c, State& s, std::span<const std::int32_t> tokens,
                       TensorView<float> logits, const ForwardContext& ctx) {
        const ModelConfig& dc = c.decoder;
        const std::int64_t T = std::int64_t(tokens.size());
        LAMINA_CHECK(logits.rows() == T || logits.rows() == 1, "EncoderDecoder: logits have ", logits.rows(),
                     " rows for ", T, " tokens (need ", T, " or 1)");
        ArenaScope scope(*ctx.arena);
        const TensorView<float> x(ctx.arena->alloc<float>(std::size_t(T * dc.d_model)).data(), {T, dc.d_model});
        Embedding::embed(w.embed, dc, tokens, x, ctx);
        DecoderStack::forward(w.decoder, dc, s.decoder, x, ctx);
        const TensorView<float> rows = logits.rows() == T ? x : x.slice_rows(T - 1, 1);
        FinalNorm::apply(w.decoder_norm, rows, rows, dc.norm_eps);
        if (HeadScale == TiedHeadScale::rsqrt_d_model && dc.tie_embeddings) {  // HF: sequence_output * d**-0.5
            const float scale = float(1.0 / std::sqrt(double(dc.d_model)));
            for (std::int64_t r = 0; r < rows.rows(); ++r)
                for (int j = 0; j < dc.d_model; ++j) rows(r, j) *= scale;
        }
        w.lm_head.forward(rows, logits, ctx.pool);
    }
};

// An encoder-decoder architecture loaded once (config, weights, shared tables; immutable and shareable), and its
// Sessions: one source/target pair each, with the encoder's scratch K/V, the decoder's caches, the memory and an
// arena sized at creation, so encode() and every decode step allocate nothing.
template <class Arch>
class EncoderDecoderModel {
public:
    using Weights = typename Arch::Weights;
    using State = typename Arch::State;

    template <TensorSource Source>
    EncoderDecoderModel(const ModelConfig& config, const Source& source, DType weight_dtype = DType::f32)
        : config_(config), configs_(config) {
        config_.validate();
        configs_.decoder.validate();
        WeightLoader<Source> loader(source, weight_dtype);
        weights_.visit(loader, configs_);
        Arch::prepare(weights_, configs_, tables_);
    }

    const ModelConfig& config() const { return config_; }
    const EncoderDecoderConfig& stack_configs() const { return configs_; }
    const Weights& weights() const { return weights_; }

    class Session {
    public:
        std::int64_t position() const { return position_; }           // target tokens decoded since encode()
        std::int64_t source_length() const { return source_length_; }  // 0 before the first encode()
        std::int64_t max_chunk() const { return max_chunk_; }
        std::int64_t max_source() const { return max_source_; }
        // The encoder's last hidden state of the current source, [source_length, d_model].
        TensorView<const float> memory() const {
            return TensorView<const float>::matrix(memory_.data(), source_length_, d_model_, d_model_);
        }
        State& state() { return state_; }

    private:
        friend class EncoderDecoderModel;
        Session(State s, std::size_t arena_bytes, std::int64_t max_chunk, std::int64_t max_source, int d_model)
            : state_(std::move(s)), arena_(arena_bytes), memory_(std::size_t(max_source * d_model)),
              max_chunk_(max_chunk), max_source_(max_source), d_model_(d_model) {}
        State state_;
        Arena arena_;
        AlignedBuffer<float> memory_;
        std::int64_t position_ = 0, source_length_ = 0, max_chunk_ = 0, max_source_ = 0;
        int d_model_ = 0;
    };

    // A session for sources of up to max_source tokens (0: max_positions) and decoder calls of up to max_chunk
    // tokens at a time (longer targets are chunked).
    Session session(std::int64_t max_chunk = 256, std::int64_t max_source = 0) const {
        if (max_source == 0) max_source = config_.max_positions;
        LAMINA_CHECK(max_chunk > 0, "EncoderDecoderModel::session: max_chunk must be positive, got ", max_chunk);
        LAMINA_CHECK(max_source > 0 && max_source <= config_.max_positions, "EncoderDecoderModel::session: max_source ",
                     max_source, " is outside 1..", config_.max_positions);
        const std::size_t arena =
            std::max(Arch::encode_scratch_bytes(configs_, max_source), Arch::decode_scratch_bytes(configs_, max_chunk));
        return Session(Arch::make_state(configs_, max_source, config_.max_positions), arena + 16 * simd::kAlign,
                       max_chunk, max_source, config_.d_model);
    }

    // Encodes a whole source sequence and starts a new target in the session. key_padding, when not empty, has
    // one flag per source token in HF attention_mask convention (0: padding, attended to by no query).
    void encode(Session& s, std::span<const std::int32_t> source, ThreadPool* pool = nullptr,
                std::span<const std::uint8_t> key_padding = {}) const {
        const std::int64_t S = std::int64_t(source.size());
        LAMINA_CHECK(S > 0 && S <= s.max_source_, "EncoderDecoderModel::encode: ", S,
                     " source tokens, the session takes 1..", s.max_source_);
        LAMINA_CHECK(key_padding.empty() || std::int64_t(key_padding.size()) == S, "EncoderDecoderModel::encode: ",
                     key_padding.size(), " padding flags for ", S, " source tokens");
        s.position_ = 0;
        s.source_length_ = 0;  // until the encoder has run, there is no valid memory
        ForwardContext ctx;
        ctx.pool = pool;
        ctx.arena = &s.arena_;
        ctx.tables = &tables_;
        ctx.pos0 = 0;
        ctx.tokens = source;
        ctx.key_padding = key_padding;
        const auto memory = TensorView<float>::matrix(s.memory_.data(), S, config_.d_model, config_.d_model);
        Arch::encode(weights_, configs_, s.state_, source, memory, ctx);
        s.source_length_ = S;
    }

    // Feeds target tokens to the decoder, writing logits for every token ([T, vocab]) or the last only ([1, vocab]).
    void forward(Session& s, std::span<const std::int32_t> tokens, TensorView<float> logits,
                 ThreadPool* pool = nullptr) const {
        const std::int64_t T = std::int64_t(tokens.size());
        LAMINA_CHECK(s.source_length_ > 0, "EncoderDecoderModel::forward: encode() a source first");
        LAMINA_CHECK(T > 0, "EncoderDecoderModel::forward: no tokens");
        LAMINA_CHECK(s.position_ + T <= config_.max_positions, "EncoderDecoderModel::forward: ", s.position_, " + ", T,
                     " target tokens exceed the context of ", config_.max_positions);
        LAMINA_CHECK(logits.rows() == T || logits.rows() == 1, "EncoderDecoderModel::forward: logits have ",
                     logits.rows(), " rows for ", T, " tokens");
        LAMINA_CHECK(logits.cols() == config_.vocab_size, "EncoderDecoderModel::forward: logits have ", logits.cols(),
                     " columns, the vocabulary is ", config_.vocab_size);
        for (std::int64_t t0 = 0; t0 < T; t0 += s.max_chunk_) {
            const std::int64_t n = std::min(s.max_chunk_, T - t0);
            const TensorView<float> out = logits.rows() == T ? logits.slice_rows(t0, n) : logits;
            ForwardContext ctx;
            ctx.pool = pool;
            ctx.arena = &s.arena_;
            ctx.tables = &tables_;
            ctx.pos0 = s.position_;
            ctx.tokens = tokens.subspan(std::size_t(t0), std::size_t(n));
            Arch::decode(weights_, configs_, s.state_, ctx.tokens, out, ctx);
            s.position_ += n;
        }
    }

private:
    ModelConfig config_;
    EncoderDecoderConfig configs_;
    Weights weights_;
    SharedTables tables_;
};

}  // namespace lamina
