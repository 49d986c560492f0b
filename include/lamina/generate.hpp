#pragma once
// Generation: logit processors and seeded sampling, stop conditions and streaming, the Generator (causal and
// encoder-decoder), beam search (with diverse groups), and lossless speculative decoding with model, self and
// prompt-lookup drafters.
#include "lamina/generate/beam_search.hpp"
#include "lamina/generate/dola.hpp"
#include "lamina/generate/drafter.hpp"
#include "lamina/generate/generator.hpp"
#include "lamina/generate/language_model.hpp"
#include "lamina/generate/logit_processors.hpp"
#include "lamina/generate/prompt_lookup.hpp"
#include "lamina/generate/rng.hpp"
#include "lamina/generate/sampler.hpp"
#include "lamina/generate/speculative.hpp"
#include "lamina/generate/stop_conditions.hpp"
