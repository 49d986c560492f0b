#pragma once
// BERT (HF BertModel): word + learned position + token-type embeddings under a LayerNorm, then post-norm encoder
// layers of biased bidirectional attention and a biased GELU MLP; no final norm — the last layer's output is the
// last hidden state. The classification head (BertForSequenceClassification) is BertClassifier in pooling.hpp.
#include "lamina/models/block.hpp"
#include "lamina/models/encoder.hpp"
#include "lamina/models/pooling.hpp"
#include "lamina/models/stack.hpp"

namespace lamina {

using BertBlock = Block<PostNorm, LayerNorm, Attention<NoPositions, Bidirectional>, Mlp>;
using Bert = Encoder<BertEmbedding, Repeat<BertBlock>, NoNorm>;

}  // namespace lamina
