#pragma once
// What a loaded model computes, for generic code (the CLI, the generator, benchmarks) that receives a concrete model
// type from hf::with_model and must pick the calls that fit it at compile time:
//   CausalLm            Model<DecoderOnly<…>>        forward(session, ids, logits [T or 1, vocab])
//   EncoderOnly         Model<Encoder<…>>            forward(session, ids, hidden [T, d_model])
//   EncoderDecoderLm    EncoderDecoderModel<…>       encode(session, source), then forward(session, target, logits)
#include "lamina/models/encoder_decoder.hpp"
#include "lamina/models/model.hpp"

#include <string_view>
#include <type_traits>

namespace lamina {

enum class ModelKind { causal_lm, encoder, encoder_decoder };

template <class M>
struct model_kind;  // undefined for anything that is not a model
template <class E, class S, class N>
struct model_kind<Model<DecoderOnly<E, S, N>>> : std::integral_constant<ModelKind, ModelKind::causal_lm> {};
template <class E, class S, class N>
struct model_kind<Model<Encoder<E, S, N>>> : std::integral_constant<ModelKind, ModelKind::encoder> {};
template <class Arch>
struct model_kind<EncoderDecoderModel<Arch>> : std::integral_constant<ModelKind, ModelKind::encoder_decoder> {};

template <class M>
inline constexpr ModelKind model_kind_v = model_kind<std::remove_cvref_t<M>>::value;

template <class M>
concept CausalLm = model_kind_v<M> == ModelKind::causal_lm;
template <class M>
concept EncoderOnly = model_kind_v<M> == ModelKind::encoder;
template <class M>
concept EncoderDecoderLm = model_kind_v<M> == ModelKind::encoder_decoder;

constexpr std::string_view model_kind_name(ModelKind k) {
    switch (k) {
        case ModelKind::causal_lm: return "causal LM";
        case ModelKind::encoder: return "encoder";
        case ModelKind::encoder_decoder: return "encoder-decoder";
    }
    return "?";
}

}  // namespace lamina
