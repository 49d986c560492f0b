#pragma once
// lamina models: blocks and stacks assembled from layer policies, whole architectures, and Model/Session.
#include "lamina/models/block.hpp"
#include "lamina/models/config.hpp"
#include "lamina/models/decoder_only.hpp"
#include "lamina/models/layer_schedule.hpp"
#include "lamina/models/model.hpp"
#include "lamina/models/model_kind.hpp"
#include "lamina/models/pooling.hpp"
#include "lamina/models/encoder_decoder.hpp"
