#pragma once
// What generation needs from a model, as concepts: sessions fed token ids, logits out. Model<Arch> (decoder-only)
// and EncoderDecoderModel<Arch> (after encode) both satisfy LanguageModel; speculative decoding also needs to roll
// a session back (RollbackModel), and the encoder-decoder entry points need encode (Seq2SeqModel). Generators are
// templates over these, so the per-token path is direct calls.
#include "lamina/core/tensor.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/models/config.hpp"

#include <concepts>
#include <cstdint>
#include <span>

namespace lamina {

template <class M>
concept LanguageModel = requires(const M& m, typename M::Session& s, std::span<const std::int32_t> tokens,
                                 TensorView<float> logits, ThreadPool* pool) {
    { m.config() } -> std::convertible_to<const ModelConfig&>;
    { m.session(std::int64_t{1}) } -> std::same_as<typename M::Session>;
    m.forward(s, tokens, logits, pool);
    { std::as_const(s).position() } -> std::convertible_to<std::int64_t>;
} && std::copyable<typename M::Session>;

template <class M>
concept RollbackModel = LanguageModel<M> && requires(typename M::Session& s, std::int64_t position) {
    s.reset();
    s.truncate(position);
};

// Models with a logit lens (Model::forward_with_lens): what DoLa needs.
template <class M>
concept LensModel = LanguageModel<M> && requires(const M& m, typename M::Session& s,
                                                 std::span<const std::int32_t> tokens, TensorView<float> logits,
                                                 ThreadPool* pool) {
    m.forward_with_lens(s, tokens, logits, 1, logits, pool);
};

template <class M>
concept Seq2SeqModel = LanguageModel<M> && requires(const M& m, typename M::Session& s,
                                                    std::span<const std::int32_t> source, ThreadPool* pool) {
    m.encode(s, source, pool);
};

}  // namespace lamina
