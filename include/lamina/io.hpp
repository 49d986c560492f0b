#pragma once
// lamina io: reading checkpoints (memory-mapped safetensors), Hugging Face model directories and tokenizers.
#include "lamina/io/hf/model_dir.hpp"
#include "lamina/io/mapped_file.hpp"
#include "lamina/io/npy.hpp"
#include "lamina/io/quantized_checkpoint.hpp"
#include "lamina/io/safetensors.hpp"
#include "lamina/io/safetensors_writer.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/io/token_stream_decoder.hpp"
#include "lamina/io/tokenizer.hpp"
