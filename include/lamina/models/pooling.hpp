#pragma once
// Sentence vectors from an encoder's last hidden state h [T, d_model]:
//   pool_cls    h[0], the [CLS] row, as a view (no copy)
//   pool_mean   the mean of the rows of real tokens: Σ_t m_t·h_t / max(Σ_t m_t, 1e-9), sentence-transformers' mean
//               pooling, with m the HF attention_mask (1 real token, 0 padding; empty: every row counts)
//   BertPooler  tanh(h[0]·Wᵀ + b), HF BertPooler (weights "pooler.dense"), the input of BERT's classifiers
//   BertClassifier  logits [1, num_labels] = pooled·W_cᵀ + b_c, HF BertForSequenceClassification's head (weights
//               "pooler.dense" and "classifier"; its dropout is off at inference)
#include "lamina/layers/weights.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace lamina {

inline TensorView<const float> pool_cls(TensorView<const float> hidden) {
    LAMINA_CHECK(hidden.rank() == 2 && hidden.rows() > 0, "pool_cls: need a [T, d] hidden state with T > 0, got ",
                 hidden.rows(), " rows");
    return hidden.slice_rows(0, 1);
}

inline void pool_mean(TensorView<const float> hidden, std::span<const std::uint8_t> mask, std::span<float> out) {
    const std::int64_t T = hidden.rows(), d = hidden.cols();
    LAMINA_CHECK(hidden.rank() == 2, "pool_mean: need a [T, d] hidden state, got rank ", hidden.rank());
    LAMINA_CHECK(mask.empty() || std::int64_t(mask.size()) == T, "pool_mean: mask has ", mask.size(),
                 " entries for ", T, " rows");
    LAMINA_CHECK(std::int64_t(out.size()) == d, "pool_mean: output has ", out.size(), " values, rows have ", d);
    std::fill(out.begin(), out.end(), 0.f);
    std::int64_t count = 0;
    for (std::int64_t t = 0; t < T; ++t) {
        if (!mask.empty() && !mask[std::size_t(t)]) continue;
        ++count;
        const float* row = hidden.row(t);
        for (std::int64_t j = 0; j < d; ++j) out[std::size_t(j)] += row[j];
    }
    // No real token: zeros (the reference's clamp to 1e-9 divides a zero sum).
    const float inv = count ? 1.f / float(count) : 0.f;
    for (auto& v : out) v *= inv;
}

namespace detail {
// A head's weights, loaded on their own from a source that also holds the encoder's (a task checkpoint).
template <class W, TensorSource Source>
W load_head(const Source& source, const std::string& path, const ModelConfig& c, DType weight_dtype) {
    W w;
    WeightLoader<Source> loader(source, weight_dtype);
    w.visit(loader, path, c);
    return w;
}
}  // namespace detail

struct BertPooler {
    struct Weights {
        Linear dense;  // [d_model, d_model] with bias
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            v.linear(path + ".dense", dense, c.d_model, c.d_model, true);
        }
    };

    // The pooler's weights from a source that names them "pooler.dense.weight/.bias" (a BERT checkpoint's own names).
    template <TensorSource Source>
    static Weights load(const Source& source, const ModelConfig& c, DType weight_dtype = DType::f32) {
        return detail::load_head<Weights>(source, "pooler", c, weight_dtype);
    }

    // out [1, d_model] = tanh(hidden[0]·Wᵀ + b).
    static void forward(const Weights& w, TensorView<const float> hidden, TensorView<float> out,
                        ThreadPool* pool = nullptr) {
        LAMINA_CHECK(out.rank() == 2 && out.rows() == 1 && out.cols() == w.dense.out_features(),
                     "BertPooler: output is [", out.rows(), ", ", out.cols(), "], need [1, ", w.dense.out_features(), "]");
        w.dense.forward(pool_cls(hidden), out, pool);
        for (std::int64_t j = 0; j < out.cols(); ++j) out(0, j) = std::tanh(out(0, j));
    }
};

struct BertClassifier {
    struct Weights {
        BertPooler::Weights pooler;
        Linear classifier;  // [num_labels, d_model] with bias
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            LAMINA_CHECK(c.num_labels > 0, "BertClassifier: num_labels must be positive, got ", c.num_labels);
            pooler.visit(v, path.empty() ? "pooler" : path + ".pooler", c);
            v.linear(path.empty() ? "classifier" : path + ".classifier", classifier, c.num_labels, c.d_model, true);
        }
    };

    // The head's weights from a source naming them "pooler.dense.*" and "classifier.*".
    template <TensorSource Source>
    static Weights load(const Source& source, const ModelConfig& c, DType weight_dtype = DType::f32) {
        return detail::load_head<Weights>(source, "", c, weight_dtype);
    }

    // logits [1, num_labels] from the encoder's last hidden state [T, d_model].
    static void forward(const Weights& w, TensorView<const float> hidden, TensorView<float> logits,
                        ThreadPool* pool = nullptr) {
        LAMINA_CHECK(logits.rank() == 2 && logits.rows() == 1 && logits.cols() == w.classifier.out_features(),
                     "BertClassifier: logits are [", logits.rows(), ", ", logits.cols(), "], need [1, ",
                     w.classifier.out_features(), "]");
        const std::int64_t d = w.pooler.dense.out_features();
        std::vector<float> pooled(static_cast<std::size_t>(d));  // one row per call, outside the per-token path
        BertPooler::forward(w.pooler, hidden, TensorView<float>(pooled.data(), {1, d}), pool);
        w.classifier.forward(TensorView<const float>(pooled.data(), {1, d}), logits, pool);
    }
};

}  // namespace lamina
