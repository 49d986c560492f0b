#pragma once
// lamina layers: the primitives models are composed from — attention (with position and mask policies), FFNs,
// norms, embeddings — plus their weight declarations and per-sequence state. Layers know nothing of files.
#include "lamina/layers/attention.hpp"
#include "lamina/layers/context.hpp"
#include "lamina/layers/embedding.hpp"
#include "lamina/layers/ffn.hpp"
#include "lamina/layers/kv_cache.hpp"
#include "lamina/layers/linear.hpp"
#include "lamina/layers/norm.hpp"
#include "lamina/layers/positions.hpp"
#include "lamina/layers/weight_list.hpp"
#include "lamina/layers/weights.hpp"
#include "lamina/layers/weight_format.hpp"
#include "lamina/layers/cross_attention.hpp"
#include "lamina/layers/mamba.hpp"
#include "lamina/layers/moe.hpp"
#include "lamina/layers/t5_bias.hpp"
#include "lamina/layers/shared_ffn.hpp"
