"""Reference values for the generation API (include/lamina/generate/), computed independently of lamina:

- the Rng stream (xoshiro256** seeded by SplitMix64), in plain Python integers;
- each logit processor and the full pipeline, following transformers' logits_process.py (TemperatureLogitsWarper,
  TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper, RepetitionPenaltyLogitsProcessor) and OpenAI's
  presence/frequency penalties, and 200 draws by inverse CDF from the pipeline's distribution;
- greedy decoding, beam search (BeamSearchScorer / BeamHypotheses: length penalty, early stopping) and diverse
  (group) beam search with the Hamming diversity penalty, on the llama_gqa fixture model, written after
  transformers' generation/utils.py (_beam_search, _group_beam_search) and beam_search.py.
Run with /usr/bin/python3; writes fixtures/generate.safetensors."""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import save_safetensors, seeded  # noqa: E402
from decoder_only import rms_norm, rope  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures")
M64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed = (seed + 0x9E3779B97F4A7C15) & M64
            z = seed
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


def top_k(scores, k):
    return scores.masked_fill(scores < torch.topk(scores, k)[0][-1], -math.inf)


def top_p(scores, p):
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(-1).cumsum(-1)
    remove = cumulative <= (1 - p)
    remove[-1:] = False
    return scores.masked_fill(remove.scatter(0, sorted_indices, remove), -math.inf)


def min_p(scores, p):
    probs = scores.softmax(-1)
    return scores.masked_fill(probs < p * probs.max(), -math.inf)


def repetition(scores, history, penalty):
    ids = torch.tensor(history)
    s = scores.gather(0, ids)
    s = torch.where(s < 0, s * penalty, s / penalty)
    return scores.scatter(0, ids, s)


def presence_frequency(scores, history, presence, frequency):
    counts = torch.bincount(torch.tensor(history), minlength=scores.shape[0]).float()
    return scores - frequency * counts - presence * (counts > 0).float()


def processors():
    g = seeded(5)
    V = 40
    logits = torch.randn(V, generator=g) * 2
    history = [3, 7, 7, 12, 3, 3, 25, 39, 0, 12]
    bias = [(5, 1.5), (7, -0.5), (20, 3.0)]
    banned = [1, 2, 25]
    out = {"logits": logits, "history": torch.tensor(history, dtype=torch.int64),
           "temperature_0.7": logits / 0.7, "top_k_5": top_k(logits, 5), "top_p_0.8": top_p(logits, 0.8),
           "min_p_0.1": min_p(logits, 0.1), "repetition_1.3": repetition(logits, history, 1.3),
           "presence_0.5_frequency_0.25": presence_frequency(logits, history, 0.5, 0.25)}
    b = logits.clone()
    for i, v in bias:
        b[i] += v
    out["bias"] = b
    ban = logits.clone()
    ban[banned] = -math.inf
    out["banned"] = ban
    # The full pipeline in HF's order: processors on raw logits, then the warpers.
    x = repetition(logits, history, 1.3)
    x = presence_frequency(x, history, 0.2, 0.1)
    for i, v in bias:
        x[i] += v
    x[banned] = -math.inf
    x = min_p(top_p(top_k(x / 0.7, 10), 0.8), 0.05)
    out["pipeline"] = x
    probs = x.softmax(-1)
    rng = Rng(1234)
    draws = []
    for _ in range(200):
        target = rng.uniform() * float(probs.double().sum())
        cum, pick = 0.0, None
        for i in range(V):
            if probs[i] <= 0:
                continue
            cum += float(probs[i])
            pick = i
            if cum > target:
                break
        draws.append(pick)
    out["pipeline_draws"] = torch.tensor(draws, dtype=torch.int64)
    rng = Rng(42)
    raw = [rng.next() for _ in range(8)]
    out["rng_42_next"] = torch.tensor([struct.unpack("<q", struct.pack("<Q", r))[0] for r in raw], dtype=torch.int64)
    out["rng_42_uniform"] = torch.tensor([Rng(42).uniform()], dtype=torch.float64).view(torch.int64)
    return out


def load_fixture(name):
    with open(os.path.join(OUT, name + ".safetensors"), "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    config = json.loads(header.pop("__metadata__")["config"])
    w = {}
    for k, e in header.items():
        a, b = e["data_offsets"]
        dtype = {"F32": torch.float32, "I64": torch.int64}[e["dtype"]]
        w[k] = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=dtype).reshape(e["shape"])
    return config, w


def llama_logits(c, w, ids):
    """Logits of the next token after ids (the llama_gqa model of decoder_only.py, run on the whole sequence)."""
    H, KV, D = c["n_heads"], c["n_kv_heads"], c["head_dim"]
    ids = torch.tensor(ids)
    T = ids.shape[0]
    pos = torch.arange(T)
    x = w["embed.tokens"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(c["n_layers"]):
        p = f"layers.{i}."
        h = rms_norm(x, w[p + "mixer_norm.weight"], c["norm_eps"])
        q = rope((h @ w[p + "mixer.q.weight"].T).view(T, H, D), pos, c["rope_theta"])
        k = rope((h @ w[p + "mixer.k.weight"].T).view(T, KV, D), pos, c["rope_theta"])
        v = (h @ w[p + "mixer.v.weight"].T).view(T, KV, D)
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D) + mask
        o = torch.einsum("hts,shd->thd", att.softmax(-1), v).reshape(T, H * D)
        x = x + o @ w[p + "mixer.o.weight"].T
        h = rms_norm(x, w[p + "ffn_norm.weight"], c["norm_eps"])
        x = x + (F.silu(h @ w[p + "ffn.gate.weight"].T) * (h @ w[p + "ffn.up.weight"].T)) @ w[p + "ffn.down.weight"].T
    return (rms_norm(x, w["final_norm.weight"], c["norm_eps"]) @ w["lm_head.weight"].T)[-1]


class Hypotheses:
    """BeamHypotheses: the best finished sequences, scored sum_logprobs / len(sequence) ** length_penalty."""

    def __init__(self, n, length_penalty, early_stopping):
        self.n, self.lp, self.early, self.beams, self.worst = n, length_penalty, early_stopping, [], 1e9

    def add(self, seq, sum_logprobs, eos=()):
        score = sum_logprobs / (len(seq) ** self.lp)  # the length excludes the end-of-sequence token
        if len(self.beams) < self.n or score > self.worst:
            self.beams.append((score, seq + list(eos)))
            if len(self.beams) > self.n:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs, cur_len):
        if len(self.beams) < self.n:
            return False
        if self.early:
            return True
        return self.worst >= best_sum_logprobs / cur_len ** self.lp


def group_beam_search(model, prompt, num_beams, groups, diversity, max_new, eos, length_penalty, early_stopping):
    """HF's _group_beam_search for one sequence (groups == 1 is _beam_search): each group runs its own beam step
    in turn, its log-probs lowered by diversity * (how often each token was chosen at this step by earlier groups)."""
    size = num_beams // groups
    seqs = [list(prompt) for _ in range(num_beams)]
    scores = torch.full((num_beams,), -1e9, dtype=torch.float32)
    scores[::size] = 0
    hyps = [Hypotheses(size, length_penalty, early_stopping) for _ in range(groups)]
    done = [False] * groups
    max_len = len(prompt) + max_new
    while True:
        cur_len = len(seqs[0])
        logprobs = [F.log_softmax(model(s), -1) for s in seqs]
        chosen = []
        new_seqs, new_scores = list(seqs), scores.clone()
        for gi in range(groups):
            if done[gi]:
                continue
            beams = range(gi * size, (gi + 1) * size)
            lp = torch.stack([logprobs[b] for b in beams])
            if chosen:
                counts = torch.bincount(torch.tensor(chosen), minlength=lp.shape[-1]).float()
                lp = lp - diversity * counts
            total = lp + scores[gi * size:(gi + 1) * size, None]
            V = total.shape[-1]
            top_scores, top_flat = torch.topk(total.view(-1), 2 * size)
            k = 0
            for rank, (s, flat) in enumerate(zip(top_scores.tolist(), top_flat.tolist())):
                src, tok = gi * size + flat // V, flat % V
                if tok in eos:
                    if rank >= size:
                        continue
                    hyps[gi].add(seqs[src], s, [tok])
                else:
                    new_seqs[gi * size + k] = seqs[src] + [tok]
                    new_scores[gi * size + k] = s
                    chosen.append(tok)
                    k += 1
                if k == size:
                    break
            done[gi] = done[gi] or hyps[gi].is_done(top_scores.max().item(), cur_len)
        seqs, scores = new_seqs, new_scores
        if all(done) or len(seqs[0]) >= max_len:
            break
    for gi in range(groups):
        if not done[gi]:
            for b in range(gi * size, (gi + 1) * size):
                hyps[gi].add(seqs[b], scores[b].item())
    ranked = sorted((h for g in hyps for h in g.beams), key=lambda h: -h[0])
    return [h[1][len(prompt):] for h in ranked], [h[0] for h in ranked]


def searches():
    c, w = load_fixture("llama_gqa")
    model = lambda ids: llama_logits(c, w, ids)  # noqa: E731
    prompt = w["input_ids"][:5].tolist()
    seq = list(prompt)
    for _ in range(12):
        seq.append(int(model(seq).argmax()))
    out = {"prompt": torch.tensor(prompt, dtype=torch.int64), "greedy": torch.tensor(seq[len(prompt):], dtype=torch.int64)}
    eos = [seq[len(prompt) + 3]]  # the 4th greedy token ends sequences, so beams finish at different lengths
    out["eos"] = torch.tensor(eos, dtype=torch.int64)
    cases = {"beam3_lp1": (3, 1, 0.0, 10, 1.0, False), "beam4_lp0.5_early": (4, 1, 0.0, 10, 0.5, True),
             "beam4_lp2": (4, 1, 0.0, 10, 2.0, False), "diverse4x2": (4, 2, 1.5, 10, 1.0, False),
             "diverse6x3": (6, 3, 0.8, 8, 1.0, True)}
    for name, (nb, groups, div, max_new, lp, early) in cases.items():
        hyps, scores = group_beam_search(model, prompt, nb, groups, div, max_new, eos, lp, early)
        # every final hypothesis, best first, each followed by -1
        out[name] = torch.tensor([t for h in hyps for t in h + [-1]], dtype=torch.int64)
        out[name + "_scores"] = torch.tensor(scores, dtype=torch.float32)
        print(f"{name}: {hyps} scores {[round(x, 4) for x in scores]}")
    print("greedy", out["greedy"].tolist(), "eos", eos)
    return out


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    tensors = processors()
    tensors.update(searches())
    save_safetensors(os.path.join(OUT, "generate.safetensors"), tensors, {"config": "{}"})
