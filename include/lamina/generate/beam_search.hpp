#pragma once
// Beam search, as Hugging Face runs it (generation/utils.py _beam_search and _group_beam_search, beam_search.py
// BeamSearchScorer): every step each beam's log-softmax is added to its score, the best 2 × beams candidates are
// walked in order, end-of-sequence candidates among the first `beams` become finished hypotheses scored
// sum_logprobs / length^length_penalty (length without the EOS token, prompt included), the others continue.
// A group stops when it holds `beams` hypotheses and (early_stopping) at once, or (otherwise) when the best
// running score / current length^length_penalty cannot beat the worst kept hypothesis.
// Diverse beam search (Vijayakumar et al. 2016) splits the beams into groups that step one after another; a
// group's log-probs are lowered by diversity_penalty × the number of times earlier groups chose each token at
// this step (HF's HammingDiversityLogitsProcessor).
// Each beam owns a session; a step forks the sessions of surviving parents (a Session copy is a fork).
#include "lamina/generate/language_model.hpp"
#include "lamina/generate/stop_conditions.hpp"

#include <algorithm>
#include <cmath>

namespace lamina {

struct BeamSearchOptions {
    std::int32_t beams = 4;
    std::int32_t groups = 1;         // > 1: diverse beam search, beams split evenly into groups
    float diversity_penalty = 0.f;   // subtracted per earlier-group choice of the same token at the same step
    float length_penalty = 1.f;      // > 0 favours longer hypotheses, < 0 shorter ones
    bool early_stopping = false;
    std::int64_t max_new_tokens = 64;
    std::vector<std::int32_t> eos_ids;
};

struct BeamHypothesis {
    std::vector<std::int32_t> tokens;  // generated tokens, the EOS that finished it included
    float score = 0;                   // sum of log-probs / length^length_penalty
};

template <LanguageModel M>
class BeamSearch {
public:
    using Session = typename M::Session;

    explicit BeamSearch(const M& model, ThreadPool* pool = nullptr, std::int64_t max_chunk = 256)
        : model_(&model), pool_(pool), prototype_(model.session(max_chunk)) {}

    // Causal LM: the final hypotheses after the prompt, best first (beams of them).
    std::vector<BeamHypothesis> search(std::span<const std::int32_t> prompt, const BeamSearchOptions& o)
        requires(!Seq2SeqModel<M>)
    {
        prototype_.reset();
        return run(prompt, o);
    }

    // Encoder-decoder: encodes the source once, then searches after the decoder prompt.
    std::vector<BeamHypothesis> search(std::span<const std::int32_t> source,
                                       std::span<const std::int32_t> decoder_prompt, const BeamSearchOptions& o)
        requires Seq2SeqModel<M>
    {
        model_->encode(prototype_, source, pool_);
        return run(decoder_prompt, o);
    }

private:
    struct Beam {
        Session session;
        std::vector<std::int32_t> tokens;  // the whole sequence, prompt included
        float score;
    };

    // One group's finished hypotheses (HF's BeamHypotheses).
    struct Finished {
        std::vector<BeamHypothesis> kept;
        float worst = 1e9f;
        void add(std::span<const std::int32_t> generated, float sum_logprobs, std::int64_t length,
                 const BeamSearchOptions& o, std::size_t capacity) {
            const float score = sum_logprobs / float(std::pow(double(length), double(o.length_penalty)));
            if (kept.size() >= capacity && score <= worst) return;
            kept.push_back({std::vector<std::int32_t>(generated.begin(), generated.end()), score});
            if (kept.size() > capacity) {
                const auto lowest = std::min_element(kept.begin(), kept.end(),
                                                     [](const auto& a, const auto& b) { return a.score < b.score; });
                kept.erase(lowest);
            }
            worst = std::min_element(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
                        return a.score < b.score;
                    })->score;
        }
        bool done(float best_sum_logprobs, std::int64_t length, const BeamSearchOptions& o, std::size_t capacity) const {
            if (kept.size() < capacity) return false;
            if (o.early_stopping) return true;
            return worst >= best_sum_logprobs / float(std::pow(double(length), double(o.length_penalty)));
        }
    };

    std::vector<BeamHypothesis> run(std::span<const std::int32_t> prompt, const BeamSearchOptions& o) {
        LAMINA_CHECK(o.beams >= 1 && o.groups >= 1 && o.beams % o.groups == 0, "BeamSearch: ", o.beams,
                     " beams cannot be split into ", o.groups, " groups");
        LAMINA_CHECK(!prompt.empty(), "BeamSearch: empty prompt");
        const std::int64_t V = model_->config().vocab_size;
        const std::int64_t P = std::int64_t(prompt.size());
        const std::int64_t max_length = std::min<std::int64_t>(P + o.max_new_tokens, model_->config().max_positions);
        const std::size_t size = std::size_t(o.beams / o.groups), n = std::size_t(o.beams);

        std::vector<float> logprobs(n * std::size_t(V));
        model_->forward(prototype_, prompt, TensorView<float>(logprobs.data(), {1, V}), pool_);
        std::vector<Beam> beams, next;
        for (std::size_t b = 0; b < n; ++b) {
            // Identical beams at the start: only the first of each group may expand (HF scores the rest -1e9).
            beams.push_back({prototype_, {prompt.begin(), prompt.end()}, b % size == 0 ? 0.f : -1e9f});
            std::copy_n(logprobs.data(), V, logprobs.data() + b * std::size_t(V));
        }
        next = beams;
        std::vector<Finished> finished(std::size_t(o.groups));
        std::vector<bool> done(std::size_t(o.groups), false);
        std::vector<std::int32_t> chosen;      // tokens picked by earlier groups at this step
        std::vector<std::int32_t> chosen_count(static_cast<std::size_t>(V));
        std::vector<std::pair<float, std::int64_t>> candidates(size * std::size_t(V));

        for (std::int64_t length = P;; ++length) {
            for (std::size_t b = 0; b < n; ++b) log_softmax(std::span(logprobs).subspan(b * std::size_t(V), std::size_t(V)));
            chosen.clear();
            const std::vector<bool> stepped = flip(done);  // groups that take this step
            for (std::size_t g = 0; g < std::size_t(o.groups); ++g) {
                if (!stepped[g]) continue;
                // Candidates of the group: flat index = beam-in-group × V + token.
                for (std::size_t i = 0; i < size; ++i) {
                    const std::size_t b = g * size + i;
                    for (std::int64_t t = 0; t < V; ++t)
                        candidates[i * std::size_t(V) + std::size_t(t)] = {
                            beams[b].score + logprobs[b * std::size_t(V) + std::size_t(t)] -
                                o.diversity_penalty * float(chosen_count[std::size_t(t)]),
                            std::int64_t(i) * V + t};
                }
                const std::size_t top = std::min(2 * size, candidates.size());
                std::partial_sort(candidates.begin(), candidates.begin() + std::ptrdiff_t(top), candidates.end(),
                                  [](const auto& a, const auto& c) {
                                      return a.first > c.first || (a.first == c.first && a.second < c.second);
                                  });
                std::size_t k = 0;
                for (std::size_t rank = 0; rank < top && k < size; ++rank) {
                    const auto [score, flat] = candidates[rank];
                    const Beam& parent = beams[g * size + std::size_t(flat / V)];
                    const auto token = std::int32_t(flat % V);
                    if (std::find(o.eos_ids.begin(), o.eos_ids.end(), token) != o.eos_ids.end()) {
                        if (rank >= size) continue;  // an EOS outside the top `beams` is not a hypothesis
                        std::vector<std::int32_t> generated(parent.tokens.begin() + P, parent.tokens.end());
                        generated.push_back(token);
                        finished[g].add(generated, score, length, o, size);
                        continue;
                    }
                    Beam& child = next[g * size + k++];
                    child.session = parent.session;  // fork
                    child.tokens = parent.tokens;
                    child.tokens.push_back(token);
                    child.score = score;
                    chosen.push_back(token);
                    ++chosen_count[std::size_t(token)];
                }
                LAMINA_CHECK(k == size, "BeamSearch: more than ", size, " of the best candidates are end-of-sequence ids");
                done[g] = finished[g].done(candidates[0].first, length, o, size);
            }
            for (const auto t : chosen) chosen_count[std::size_t(t)] = 0;
            // Groups that were already done keep their (frozen) beams.
            for (std::size_t b = 0; b < n; ++b)
                if (stepped[b / size]) std::swap(beams[b], next[b]);
            if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }) || length + 1 >= max_length) break;
            for (std::size_t b = 0; b < n; ++b) {
                if (done[b / size]) continue;
                model_->forward(beams[b].session, std::span(&beams[b].tokens.back(), 1),
                                TensorView<float>(logprobs.data() + b * std::size_t(V), {1, V}), pool_);
            }
        }
        // Running beams of unfinished groups become hypotheses too.
        std::vector<BeamHypothesis> all;
        for (std::size_t g = 0; g < std::size_t(o.groups); ++g) {
            if (!done[g])
                for (std::size_t i = 0; i < size; ++i) {
                    const Beam& b = beams[g * size + i];
                    finished[g].add(std::span(b.tokens).subspan(std::size_t(P)), b.score,
                                    std::int64_t(b.tokens.size()), o, size);
                }
            for (auto& h : finished[g].kept) all.push_back(std::move(h));
        }
        std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
        return all;
    }

    static std::vector<bool> flip(std::vector<bool> v) {
        v.flip();
        return v;
    }

    static void log_softmax(std::span<float> x) {
        const float top = *std::max_element(x.begin(), x.end());
        double total = 0;
        for (const float v : x) total += std::exp(double(v - top));
        const float shift = top + float(std::log(total));
        for (auto& v : x) v -= shift;
    }

    const M* model_;
    ThreadPool* pool_;
    Session prototype_;
};

}  // namespace lamina
