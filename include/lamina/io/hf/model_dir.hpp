#pragma once
// Opening a Hugging Face model directory (config.json, model.safetensors or its sharded index, tokenizer files) and
// running generic code on the concrete model it holds:
//
//     const auto dir = hf::ModelDir::open("path/to/model");
//     hf::with_model(dir, {.dtype = DType::bf16}, [&](const auto& model) {
//         if constexpr (CausalLm<decltype(model)>) { auto s = model.session(); model.forward(s, ids, logits); }
//     });
//
// with_model picks the preset whose model_type matches (io/hf/presets.hpp), maps the config, loads and packs the
// weights through the preset's name table and calls the callable with the model — one instantiation per preset,
// so everything after the dispatch is static (no virtual calls on the per-token path). with_preset stops before
// loading, for code that only needs the preset's types and config (`lamina info`).
#include "lamina/io/hf/checkpoint.hpp"
#include "lamina/io/hf/config_json.hpp"
#include "lamina/io/hf/presets.hpp"
#include "lamina/io/tensor_sources.hpp"
#include "lamina/io/tokenizer.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <utility>

namespace lamina::hf {

struct LoadOptions {
    DType dtype = DType::f32;  // how matrices are packed: f32 or bf16
    int max_context = 0;       // > 0: caps max_positions (KV cache capacity, RoPE table) below the config's
                               // max_position_embeddings; ignored by presets whose positions are learned weights
    std::optional<QuantFormat> quantize{};  // q8 / q4 blocks for the Linear weights (layers/weight_format.hpp policy);
                                            // decoder-only and encoder models
    std::optional<WeightFormat> lm_head{};  // with quantize: the LM head's format instead of the policy's q8
    QuantActivations activations = QuantActivations::int8;  // q8 weights (at load or from a quantized checkpoint):
                                                            // int16 = two-plane activations, closer to f32
    KvPrecision kv_cache = KvPrecision::f32;  // how the sessions' KV caches store keys and values
};

class ModelDir {
public:
    // Reads config.json and model_type and maps the checkpoint files (validating their headers); the weights are
    // read only by a load.
    static ModelDir open(const std::filesystem::path& path) {
        std::error_code ec;
        LAMINA_CHECK(std::filesystem::is_directory(path, ec), path.string(), ": not a model directory");
        ModelDir d(path, ConfigJson::open((path / "config.json").string()));
        d.model_type_ = d.config_.require<std::string>("model_type");
        d.checkpoint_ = Checkpoint::open(path);
        return d;
    }

    const std::filesystem::path& path() const { return path_; }
    const ConfigJson& config_json() const { return config_; }
    const std::string& model_type() const { return model_type_; }
    const Checkpoint& checkpoint() const { return checkpoint_; }

    // tokenizer.json, else GPT-2's vocab.json + merges.txt; nothing when the directory has neither.
    std::optional<Tokenizer> tokenizer() const {
        if (std::filesystem::exists(path_ / "tokenizer.json")) return Tokenizer::from_file((path_ / "tokenizer.json").string());
        if (std::filesystem::exists(path_ / "vocab.json") && std::filesystem::exists(path_ / "merges.txt"))
            return Tokenizer::from_vocab_merges((path_ / "vocab.json").string(), (path_ / "merges.txt").string());
        return std::nullopt;
    }

private:
    ModelDir(std::filesystem::path path, ConfigJson config) : path_(std::move(path)), config_(std::move(config)) {}
    std::filesystem::path path_;
    ConfigJson config_;
    std::string model_type_;
    Checkpoint checkpoint_;
};

// The runtime config preset P makes of the directory's config.json, with the load options applied, validated.
template <Preset P>
ModelConfig model_config(const ModelDir& dir, const LoadOptions& options = {}) {
    LAMINA_CHECK(takes<P>(dir.config_json(), dir.model_type()), dir.config_json().where(), ": model_type \"",
                 dir.model_type(), "\" is not ", P::name, "'s \"", P::model_type, "\" (or its config is another kind)");
    ModelConfig c = P::config(dir.config_json());
    if (options.max_context > 0 && !P::learned_positions) c.max_positions = std::min(c.max_positions, options.max_context);
    c.kv_cache = options.kv_cache;
    c.validate();
    return c;
}

namespace detail {
template <Preset P, TensorSource Source>
typename P::Model construct(const ModelConfig& c, const Source& source, const LoadOptions& options) {
    if constexpr (std::is_constructible_v<typename P::Model, const ModelConfig&, const Source&, WeightPolicy>) {
        return typename P::Model(c, source,
                                 WeightPolicy{options.quantize ? weight_format(*options.quantize) : weight_format(options.dtype),
                                              options.lm_head, options.activations});
    } else {
        LAMINA_CHECK(!options.quantize && !options.lm_head && options.activations == QuantActivations::int8, P::name,
                     ": q8/q4 quantization is not available for encoder-decoder models");
        return typename P::Model(c, source, options.dtype);
    }
}
}  // namespace detail

// Loads the directory as preset P (whose model_type must match). A single-file checkpoint written by
// quantize_checkpoint (`lamina quantize`; recognised by its "lamina.quantization" metadata) holds lamina's own
// tensor names and is read as such; its format wins over options.quantize.
template <Preset P>
typename P::Model load(const ModelDir& dir, const LoadOptions& options = {}) {
    const ModelConfig c = model_config<P>(dir, options);
    const auto& files = dir.checkpoint().files();
    if (files.size() == 1 && checkpoint_quantization(files.front()))
        return detail::construct<P>(c, SafetensorsSource(files.front().name()), options);
    return detail::construct<P>(c, CheckpointSource(dir.checkpoint(), P::names()), options);
}

namespace detail {
template <class... Ps, class Fn>
decltype(auto) dispatch(PresetList<Ps...>, const ModelDir& dir, Fn&& fn) {
    static_assert(sizeof...(Ps) > 0, "with_preset: an empty PresetList");
    using First = std::tuple_element_t<0, std::tuple<Ps...>>;
    using R = std::invoke_result_t<Fn&, std::type_identity<First>>;
    const auto unknown = [&] {
        std::vector<std::string_view> types;  // each once: several presets may share a model_type
        ((std::find(types.begin(), types.end(), Ps::model_type) == types.end() ? types.push_back(Ps::model_type) : void()),
         ...);
        std::string known;
        for (const auto t : types) (known += known.empty() ? "" : ", ") += t;
        lamina::detail::fail(dir.config_json().where(), ": unknown model_type \"", dir.model_type(),
                             "\" (supported: ", known, ")");
    };
    if constexpr (std::is_void_v<R>) {
        const bool found = ((takes<Ps>(dir.config_json(), dir.model_type()) ? (fn(std::type_identity<Ps>{}), true) : false) || ...);
        if (!found) unknown();
    } else {
        std::optional<R> result;
        (void)((takes<Ps>(dir.config_json(), dir.model_type()) ? (result.emplace(fn(std::type_identity<Ps>{})), true) : false) || ...);
        if (!result) unknown();
        return R(std::move(*result));
    }
}
}  // namespace detail

// fn(std::type_identity<P>{}) for the preset P matching the directory's model_type. Every instantiation must return
// the same type (or void).
template <class Presets = DefaultPresets, class Fn>
decltype(auto) with_preset(const ModelDir& dir, Fn&& fn) {
    return detail::dispatch(Presets{}, dir, std::forward<Fn>(fn));
}

// fn(const P::Model&) with the directory loaded as the preset matching its model_type.
template <class Presets = DefaultPresets, class Fn>
decltype(auto) with_model(const ModelDir& dir, const LoadOptions& options, Fn&& fn) {
    return with_preset<Presets>(dir, [&]<class P>(std::type_identity<P>) {
        const typename P::Model model = load<P>(dir, options);
        return fn(model);
    });
}
template <class Presets = DefaultPresets, class Fn>
decltype(auto) with_model(const std::filesystem::path& path, const LoadOptions& options, Fn&& fn) {
    return with_model<Presets>(ModelDir::open(path), options, std::forward<Fn>(fn));
}

}  // namespace lamina::hf
