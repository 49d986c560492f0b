"""Data and tokenizer utilities shared by the toy-model training scripts.

* The King James Bible as Debian's bible-kjv-text package stores it, read through the `bible` program, one verse a
  line and a blank line between chapters; every 20th chapter is held out for validation.
* A byte-level BPE trainer (GPT-2 pre-tokenizer, merges of the most frequent pair with incremental pair counts), the
  GPT-2 merge loop to encode with it, and a Hugging Face tokenizer.json writer (ByteLevel pre-tokenizer and decoder,
  optional TemplateProcessing / BertProcessing post-processor) in the form lamina's io/tokenizer.hpp loads.
* Writers for a Hugging Face model directory: config.json, model.safetensors (tests/reference/common.py's writer),
  optional bf16 storage, and expected.json fixtures.
Run with Debian's /usr/bin/python3 (python3-torch, python3-regex)."""
import heapq
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict

import regex
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
from common import BYTE_PAIRS, merge_pair, save_safetensors, to_symbols  # noqa: E402

MODELS_DIR = os.path.join(ROOT, "examples", "models")

# GPT-2's pre-tokenizer regex, as HF's ByteLevel pre-tokenizer applies it (use_regex = true).
GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def setup(seed, threads=1):
    """Fixed seeds, deterministic kernels, and a thread count that keeps the result independent of the machine."""
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)  # decayed SSM states go subnormal; flushing them keeps CPU arithmetic fast


# ---- the King James Bible ----------------------------------------------------------------------------------------

def kjv_chapters():
    """[(reference, text)] per chapter, verses one a line, verse numbers stripped. The `bible` reader (package
    bible-kjv, pulled in by bible-kjv-text) decompresses /usr/lib/bible.data."""
    try:
        raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True,
                             text=True).stdout
    except FileNotFoundError:
        sys.exit("the KJV text is missing: apt-get install -y bible-kjv-text")
    chapters, current, verses = [], None, []
    for line in raw.splitlines():
        if not line.strip():
            continue
        ref, text = line.split(" ", 1)
        chapter = ref.split(":")[0]
        if chapter != current and verses:
            chapters.append((current, "\n".join(verses)))
            verses = []
        current = chapter
        verses.append(text.strip())
    chapters.append((current, "\n".join(verses)))
    return chapters


def kjv_split():
    """(train text, validation text): every 20th chapter (1189 chapters -> 60) is held out."""
    chapters = kjv_chapters()
    train = [t for i, (_, t) in enumerate(chapters) if i % 20 != 10]
    val = [t for i, (_, t) in enumerate(chapters) if i % 20 == 10]
    return "\n\n".join(train) + "\n", "\n\n".join(val) + "\n"


# ---- byte-level BPE ----------------------------------------------------------------------------------------------

def train_bpe(text, n_merges, mergeable=lambda word: True):
    """Classic BPE: repeatedly merge the most frequent adjacent pair of the pre-tokenized words (ties: the smallest
    pair), weighted by word count. Pair counts are updated incrementally, only for the words a merge touches, and a
    lazy max-heap finds the best pair. `mergeable(word)` excludes words from training (their symbols stay bytes
    unless a merge learnt elsewhere applies)."""
    counts = Counter(to_symbols(w) for w in GPT2_PATTERN.findall(text) if mergeable(w))
    words = [list(w) for w in counts]
    freq = list(counts.values())
    pair_count, where = Counter(), defaultdict(set)
    for i, s in enumerate(words):
        for p in zip(s, s[1:]):
            pair_count[p] += freq[i]
            where[p].add(i)
    heap = [(-n, p) for p, n in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        n, best = heapq.heappop(heap)
        if pair_count.get(best, 0) != -n or n == 0:
            continue  # stale entry
        merges.append(best)
        touched = Counter()
        for i in where.pop(best):
            s = words[i]
            if not any(s[k] == best[0] and s[k + 1] == best[1] for k in range(len(s) - 1)):
                continue
            for p in zip(s, s[1:]):
                pair_count[p] -= freq[i]
                touched[p] += 1
            out = merge_pair(s, best)
            words[i] = out
            for p in zip(out, out[1:]):
                pair_count[p] += freq[i]
                where[p].add(i)
                touched[p] += 1
        pair_count.pop(best, None)
        for p in touched:
            if p != best and pair_count[p] > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return merges


class ByteBpe:
    """A byte-level BPE tokenizer: vocab = special tokens at the front (`specials_first`) or the end, the 256 byte
    symbols, then one token per merge. encode() runs GPT-2's merge loop; decode() is the ByteLevel decoder."""

    def __init__(self, merges, specials=(), specials_first=False):
        symbols = [s for _, s in BYTE_PAIRS] + [a + b for a, b in merges]
        names = list(specials) + symbols if specials_first else symbols + list(specials)
        self.vocab = {t: i for i, t in enumerate(names)}
        assert len(self.vocab) == len(names), "duplicate token"
        self.merges = merges
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.specials = list(specials)
        self.inverse = names
        self.u2b = {u: b for b, u in BYTE_PAIRS}
        self.cache = {}

    def __len__(self):
        return len(self.vocab)

    def id(self, token):
        return self.vocab[token]

    def _word(self, symbols):
        parts = list(symbols)
        while len(parts) > 1:
            ranked = [(self.ranks[p], p) for p in zip(parts, parts[1:]) if p in self.ranks]
            if not ranked:
                break
            _, (left, right) = min(ranked)
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return [self.vocab[p] for p in parts]

    def encode(self, text):
        """Plain text only (no special tokens in it), without post-processing."""
        ids = []
        for word in GPT2_PATTERN.findall(text):
            if word not in self.cache:
                self.cache[word] = self._word(to_symbols(word))
            ids.extend(self.cache[word])
        return ids

    def decode(self, ids, skip_special=True):
        out = bytearray()
        for i in ids:
            t = self.inverse[i]
            if t in self.specials:
                if not skip_special:
                    out += t.encode()
            else:
                out += bytes(self.u2b[c] for c in t)
        return out.decode("utf-8", errors="replace")

    def tokenizer_json(self, post_processor=None):
        """Hugging Face tokenizer.json: BPE model, ByteLevel pre-tokenizer (GPT-2 regex) and decoder, specials as
        added tokens, and the given post-processor (default: ByteLevel, which adds nothing)."""
        added = [{"id": self.vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for s in self.specials]
        return {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                              "use_regex": True},
            "post_processor": post_processor or {"type": "ByteLevel", "add_prefix_space": True,
                                                 "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": self.vocab, "merges": [f"{a} {b}" for a, b in self.merges]},
        }

    @staticmethod
    def load(path):
        """Reads back a tokenizer.json this class wrote (BPE model, specials as added tokens)."""
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        merges = [tuple(m.split(" ")) for m in tj["model"]["merges"]]
        specials = sorted(tj["added_tokens"], key=lambda a: a["id"])
        first = bool(specials) and specials[0]["id"] == 0
        tok = ByteBpe(merges, [a["content"] for a in specials], specials_first=first)
        assert tok.vocab == tj["model"]["vocab"], "tokenizer.json vocab does not match its merges"
        return tok


KJV_TOKENIZER = os.path.join(MODELS_DIR, "kjv-llama", "tokenizer.json")
KJV_VOCAB = 2048
EOT = "<|endoftext|>"


def kjv_tokenizer():
    """The byte-level BPE shared by the three KJV language models: trained on the training chapters, 2047 byte and
    merge tokens plus <|endoftext|> (id 2047, also BOS/EOS). Trained once and written to kjv-llama/; the Mamba and
    hybrid scripts read that file back so all three use the same tokenizer."""
    if os.path.exists(KJV_TOKENIZER):
        return ByteBpe.load(KJV_TOKENIZER)
    train, _ = kjv_split()
    tok = ByteBpe(train_bpe(train, KJV_VOCAB - 256 - 1), [EOT])
    write_json(KJV_TOKENIZER, tok.tokenizer_json())
    return tok


def kjv_tokens(tok):
    train, val = kjv_split()
    return torch.tensor(tok.encode(train)), torch.tensor(tok.encode(val))


def random_windows(stream, batch, length, generator):
    """[batch, length + 1] windows at uniformly random offsets (inputs = [:, :-1], targets = [:, 1:])."""
    starts = torch.randint(0, stream.numel() - length - 1, (batch,), generator=generator)
    return torch.stack([stream[s:s + length + 1] for s in starts.tolist()])


def tiled_windows(stream, length):
    """All non-overlapping [length + 1] windows (consecutive windows share one token), for validation."""
    n = (stream.numel() - 1) // length
    return torch.stack([stream[i * length:i * length + length + 1] for i in range(n)])


# ---- model directories -------------------------------------------------------------------------------------------

def write_json(path, obj, indent=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"))
        if indent:
            f.write("\n")


def round_to(model, dtype):
    """Rounds every parameter to `dtype` in place (kept as f32), so evaluation sees exactly the shipped weights."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


def save_model(name, config, state_dict, dtype):
    """config.json + model.safetensors (tensors stored as `dtype`) in examples/models/<name>/. Returns the weight
    file size in bytes."""
    out = os.path.join(MODELS_DIR, name)
    write_json(os.path.join(out, "config.json"), config, indent=2)
    path = os.path.join(out, "model.safetensors")
    save_safetensors(path, {k: v.to(dtype) for k, v in state_dict.items()}, metadata={"format": "pt"})
    return os.path.getsize(path)


def param_count(state_dict):
    return sum(v.numel() for v in state_dict.values())
