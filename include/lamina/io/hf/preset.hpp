#pragma once
// What a Hugging Face preset provides — a page per model family (io/hf/presets/*.hpp):
//   using Model = lamina::Model<Arch> or EncoderDecoderModel<Arch>;    the composed type (models/presets/*.hpp)
//   static constexpr std::string_view model_type = "llama";          config.json's "model_type" it accepts
//   static constexpr std::string_view name = "Llama";                for humans (`lamina info`)
//   static constexpr bool learned_positions = false;                  true: max_positions sizes a weight, so
//                                                                     LoadOptions::max_context cannot shrink it
//   static ModelConfig config(const ConfigJson&);                     the mapping, with the HF class's defaults
//   static const NameTable& names();                                  lamina paths → checkpoint names
// PresetList<P...> is the set hf::with_model dispatches over (io/hf/presets.hpp holds the default one).
#include "lamina/io/hf/config_json.hpp"
#include "lamina/io/hf/name_table.hpp"
#include "lamina/models/model_kind.hpp"

#include <string_view>

namespace lamina::hf {

template <class P>
concept Preset = requires(const ConfigJson& j) {
    typename P::Model;
    { model_kind_v<typename P::Model> } -> std::convertible_to<ModelKind>;
    { P::model_type } -> std::convertible_to<std::string_view>;
    { P::name } -> std::convertible_to<std::string_view>;
    { P::learned_positions } -> std::convertible_to<bool>;
    { P::config(j) } -> std::same_as<ModelConfig>;
    { P::names() } -> std::same_as<const NameTable&>;
};

template <Preset... Ps>
struct PresetList {};

// Whether preset P runs a config.json of the given model_type. Where one model_type covers structurally different
// checkpoints (T5 v1.0's ReLU MLP and v1.1's gated one), each preset also says which it takes with
// `static bool accepts(const ConfigJson&)`.
template <class P>
bool takes(const ConfigJson& j, std::string_view model_type) {
    if (model_type != P::model_type) return false;
    if constexpr (requires { P::accepts(j); }) return P::accepts(j);
    return true;
}

// The sizes every transformer config names; save_pretrained writes them all, so a missing one means a broken file
// (HF would silently substitute its 7B-sized default and fail later on a tensor shape).
struct CoreSizes {
    int d_model, n_layers, n_heads, vocab_size;
};
inline CoreSizes require_core(const ConfigJson& j, const char* d_model, const char* n_layers, const char* n_heads) {
    CoreSizes s{j.require<int>(d_model), j.require<int>(n_layers), j.require<int>(n_heads), j.require<int>("vocab_size")};
    LAMINA_CHECK(s.n_heads > 0 && s.d_model > 0, j.where(), ": ", d_model, " and ", n_heads, " must be positive");
    return s;
}

}  // namespace lamina::hf
