// classify: a BERT model directory as a classifier and as a sentence embedder. With a classification head
// (BertForSequenceClassification: config.json's id2label) it prints the label probabilities of the first sentence;
// in every case it embeds both sentences by mean pooling the last hidden state and prints their cosine similarity.
//   usage: classify MODEL_DIR [SENTENCE_A] [SENTENCE_B]    (sentences: text, or ids "1,5,9,2" without a tokenizer)
#include <lamina/lamina.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

using namespace lamina;

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: classify MODEL_DIR [SENTENCE_A] [SENTENCE_B]\n");
        return 2;
    }
    const auto dir = hf::ModelDir::open(argv[1]);
    const std::optional<Tokenizer> tokenizer = dir.tokenizer();
    const auto tokens = [&](const std::string& s) {
        std::vector<std::int32_t> ids;
        if (tokenizer) return tokenizer->encode(s, /*add_special=*/true);  // [CLS] … [SEP]
        std::stringstream in(s);
        for (std::string id; std::getline(in, id, ',');) ids.push_back(std::int32_t(std::stoi(id)));
        return ids;
    };
    const std::string a = argc > 2 ? argv[2] : (tokenizer ? "a good film" : "1,3,28,37,2");
    const std::string b = argc > 3 ? argv[3] : (tokenizer ? "a fine movie" : "1,3,28,35,2");

    ThreadPool pool;
    const auto model = hf::load<hf::Bert>(dir);
    const std::int64_t d = model.config().d_model;
    // The last hidden state [T, d_model] of one sentence.
    const auto encode = [&](const std::vector<std::int32_t>& ids) {
        const std::int64_t T = std::int64_t(ids.size());
        std::vector<float> hidden(std::size_t(T * d));
        auto s = model.session(T);
        model.forward(s, ids, TensorView<float>(hidden.data(), {T, d}), &pool);
        return hidden;
    };
    const auto ids_a = tokens(a), ids_b = tokens(b);
    const auto hidden_a = encode(ids_a), hidden_b = encode(ids_b);

    if (const int labels = model.config().num_labels; labels > 0) {
        const auto head = hf::Bert::classifier(dir.checkpoint(), model.config());
        std::vector<float> logits(static_cast<std::size_t>(labels));
        BertClassifier::forward(head, TensorView<const float>(hidden_a.data(), {std::int64_t(ids_a.size()), d}),
                                TensorView<float>(logits.data(), {1, labels}), &pool);
        const float top = *std::max_element(logits.begin(), logits.end());
        float sum = 0;
        for (const float x : logits) sum += std::exp(x - top);
        const auto& names = dir.config_json().json();
        std::printf("\"%s\":\n", a.c_str());
        for (int i = 0; i < labels; ++i) {
            const auto label = names.contains("id2label") ? names["id2label"].value(std::to_string(i), std::to_string(i))
                                                          : std::to_string(i);
            std::printf("  %-12s logit %8.4f  p %.3f\n", label.c_str(), double(logits[std::size_t(i)]),
                        double(std::exp(logits[std::size_t(i)] - top) / sum));
        }
    }

    // Sentence embeddings: mean over the tokens (no padding here), compared by cosine similarity.
    const auto embed = [&](const std::vector<float>& hidden) {
        std::vector<float> v(static_cast<std::size_t>(d));
        pool_mean(TensorView<const float>(hidden.data(), {std::int64_t(hidden.size()) / d, d}), {}, v);
        return v;
    };
    const auto ea = embed(hidden_a), eb = embed(hidden_b);
    double dot = 0, na = 0, nb = 0;
    for (std::size_t i = 0; i < ea.size(); ++i) dot += double(ea[i]) * eb[i], na += double(ea[i]) * ea[i], nb += double(eb[i]) * eb[i];
    std::printf("cosine similarity (mean pooling) of \"%s\" and \"%s\": %.4f\n", a.c_str(), b.c_str(),
                dot / std::sqrt(na * nb));
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "classify: %s\n", e.what());
    return 1;
}
