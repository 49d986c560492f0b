#pragma once
// BERT (transformers' BertConfig / BertModel / BertForSequenceClassification). BertModel saves its modules without
// a prefix ("encoder.layer.0…"), the task models under "bert."; the classification head ("classifier") sits outside
// the backbone. Old TF-converted files name LayerNorm parameters gamma/beta: not supported.
#include "lamina/io/hf/preset.hpp"
#include "lamina/models/presets/bert.hpp"

namespace lamina::hf {

struct Bert {
    using Model = lamina::Model<lamina::Bert>;
    static constexpr std::string_view model_type = "bert", name = "BERT";
    static constexpr bool learned_positions = true;

    static ModelConfig config(const ConfigJson& j) {
        const auto s = require_core(j, "hidden_size", "num_hidden_layers", "num_attention_heads");
        LAMINA_CHECK(s.d_model % s.n_heads == 0, j.where(), ": hidden_size ", s.d_model,
                     " is not a multiple of num_attention_heads ", s.n_heads);
        const std::string positions = j.get<std::string>("position_embedding_type", "absolute");
        if (positions != "absolute")
            j.unsupported("position_embedding_type", "\"", positions, "\" (only absolute positions are supported)");
        ModelConfig c;
        c.d_model = s.d_model, c.n_layers = s.n_layers, c.n_heads = c.n_kv_heads = s.n_heads;
        c.head_dim = s.d_model / s.n_heads;
        c.vocab_size = s.vocab_size;
        c.d_ff = j.require<int>("intermediate_size");
        c.max_positions = j.get<int>("max_position_embeddings", 512);
        c.type_vocab_size = j.get<int>("type_vocab_size", 2);
        c.norm_eps = j.get<float>("layer_norm_eps", 1e-12f);
        c.activation = activation(j, "hidden_act", "gelu");
        c.qkv_bias = c.o_bias = c.mlp_bias = true;
        // PretrainedConfig: num_labels is len(id2label) when the file has one, else the num_labels key, else 2.
        c.num_labels = j.json().contains("id2label") && j.json()["id2label"].is_object()
                           ? int(j.json()["id2label"].size())
                           : j.get<int>("num_labels", 2);
        return c;
    }

    static const NameTable& names() {
        static const NameTable table = [] {
            std::vector<Rule> r = {{"embed.tokens", "embeddings.word_embeddings.weight"},
                                   {"embed.positions", "embeddings.position_embeddings.weight"},
                                   {"embed.types", "embeddings.token_type_embeddings.weight"}};
            const std::pair<const char*, const char*> modules[] = {
                {"embed.norm", "embeddings.LayerNorm"},
                {"layers.#.mixer.q", "encoder.layer.#.attention.self.query"},
                {"layers.#.mixer.k", "encoder.layer.#.attention.self.key"},
                {"layers.#.mixer.v", "encoder.layer.#.attention.self.value"},
                {"layers.#.mixer.o", "encoder.layer.#.attention.output.dense"},
                {"layers.#.mixer_norm", "encoder.layer.#.attention.output.LayerNorm"},
                {"layers.#.ffn.up", "encoder.layer.#.intermediate.dense"},
                {"layers.#.ffn.down", "encoder.layer.#.output.dense"},
                {"layers.#.ffn_norm", "encoder.layer.#.output.LayerNorm"},
                {"pooler.dense", "pooler.dense"}};
            for (const auto& [lamina, hf] : modules)
                for (const std::string w : {".weight", ".bias"}) r.push_back({lamina + w, hf + w});
            for (const std::string w : {".weight", ".bias"})
                r.push_back({"classifier" + w, "classifier" + w, Layout::out_in, 0, 1, false});
            return NameTable({"", "bert."}, std::move(r));
        }();
        return table;
    }

    // BertForSequenceClassification's pooler and classifier from the same checkpoint, for BertClassifier::forward
    // on the model's last hidden state: classifier(dir.checkpoint(), model.config()).
    static BertClassifier::Weights classifier(const Checkpoint& checkpoint, const ModelConfig& c,
                                              DType weight_dtype = DType::f32) {
        return BertClassifier::load(CheckpointSource(checkpoint, names()), c, weight_dtype);
    }
};

}  // namespace lamina::hf
