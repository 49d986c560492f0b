#pragma once
// T5 (HF T5ForConditionalGeneration): pre-RMSNorm encoder and decoder stacks over a shared embedding, attention
// without 1/√d scaling biased by one learned relative-position table per stack, cross-attention in every decoder
// layer. The two generations differ in structure, so they are two types:
//   T5v10  T5DenseActDense (ReLU MLP); the head is tied to the embedding and sees the output scaled by d_model^−½
//   T5v11  T5DenseGatedActDense (gated GELU: wi_0 through the activation, times wi_1); untied head
// (the scale applies whenever the config ties the head, as in HF, so the tie itself is data).
#include "lamina/models/block.hpp"
#include "lamina/models/encoder_decoder.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

template <class Ffn>
using T5EncoderBlock = Block<PreNorm, RmsNorm, Attention<T5RelativeBias<true>, Bidirectional>, Ffn>;
template <class Ffn>
using T5DecoderBlock = DecoderBlock<RmsNorm, Attention<T5RelativeBias<false>, Causal>, CrossAttention, Ffn>;
template <class Ffn>
using T5 = EncoderDecoder<TokenEmbedding, Repeat<T5EncoderBlock<Ffn>>, Repeat<T5DecoderBlock<Ffn>>,
                          T5RelativeBias<true>, T5RelativeBias<false>>;

using T5v10 = T5<Mlp>;
using T5v11 = T5<GatedMlp>;

}  // namespace lamina
