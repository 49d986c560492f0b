"""Fixtures for lamina's tokenizers (tests/io/tokenizer_test.cpp), written to fixtures/tokenizers/.

(a) Byte-level BPE. A small BPE trainer below learns merges over GPT-2 pre-tokenized words of CORPUS (a few KB of
    English, punctuation, numbers, whitespace runs, accents, CJK, emoji); the vocabulary is the 256 byte symbols of
    GPT-2's bytes_to_unicode, the merges, and <|endoftext|>. Written as
      gpt2/vocab.json + gpt2/merges.txt      GPT-2's original file pair
      gpt2/tokenizer.json                    GPT-2 as Hugging Face stores it (ByteLevel pre-tokenizer and decoder)
      llama3/tokenizer.json                  Llama 3 style: Split with the Llama 3 regex + ByteLevel(use_regex=false),
                                             ignore_merges, <|begin_of_text|> template, added tokens exercising
                                             special / lstrip / rstrip / single_word
      qwen2/tokenizer.json                   Qwen2 style: NFC normalizer, Split with the Qwen2 regex
    Expected ids come from an independent reference: the `regex` module with the canonical \\p{L}/\\p{N} patterns and
    the merge loop of OpenAI's GPT-2 encoder.py (lowest-ranked pair, all its occurrences merged left to right,
    repeat), re-implemented here.

(b) SentencePiece BPE with byte fallback. python3-sentencepiece trains a BPE model on CORPUS with Llama 2's settings
    (identity normalization, no whitespace collapsing, dummy prefix, split digits, byte_fallback); the model is
    converted to tokenizer.json the way transformers' LlamaConverter does it (convert_slow_tokenizer.py): vocab =
    pieces by id; merges = for every piece, each split into two pieces that are both in the vocabulary, ordered by the
    merged piece's score, highest first (SentencePieceExtractor.extract with vocab_scores); <unk>/<s>/</s> as special
    added tokens; TemplateProcessing "<s> $A"; decoder Replace(▁→space), ByteFallback, Fuse, Strip(1 leading space).
      llama2/tokenizer.json     the legacy normalizer form: Prepend("▁") + Replace(" " → "▁"), merges as "a b"
      mistral/tokenizer.json    the newer form: no normalizer, Metaspace(prepend_scheme=first, split=false)
                                pre-tokenizer, merges as ["a", "b"] pairs
    Expected ids are sentencepiece's own encode(); test strings include characters absent from the training text so
    byte fallback is exercised.

    Known differences between sentencepiece and the Hugging Face BPE-with-merges view, kept out of the test strings:
      * HF splits added tokens out of the text before normalizing, and the legacy Prepend normalizer then prefixes
        ▁ to every segment ("<s>Hi" -> <s> ▁Hi); sentencepiece knows no added tokens and would spell "<s>" out as
        characters. Strings with added tokens are therefore checked against sentencepiece segment by segment.
      * HF's Metaspace pre-tokenizer (the mistral/ form) prepends ▁ only when the text does not already start with
        ▁, i.e. with a space, while sentencepiece's dummy prefix is unconditional: " x" is ▁x to HF but ▁▁x to
        sentencepiece (and so does not round-trip through HF). Its expectation is sentencepiece's encoding of "x".
      * U+2581 (▁) in the input is indistinguishable from a space once normalized, and decodes as a space: such
        strings do not round-trip in either implementation.
      * sentencepiece picks the adjacent pair whose merged piece scores highest, HF the lowest-ranked merge; with
        merges ordered by score these agree except where pieces tie in score, which only the score-0 special and
        byte pieces do, and those never merge.
      * sentencepiece's nmt_nfkc normalization and whitespace collapsing are not expressible as these normalizers;
        the model is trained with identity normalization and remove_extra_whitespaces=false, as Llama 2 was.

(c) malformed/: broken files for the error tests.

Run with Debian's /usr/bin/python3 (python3-regex, python3-sentencepiece)."""
import io
import json
import os
import shutil
import unicodedata
from collections import Counter

import regex
import sentencepiece as spm

from common import BYTE_PAIRS, merge_pair, to_symbols

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "tokenizers")

CORPUS = """\
The quick brown fox jumps over the lazy dog. The dog didn't move; it was far too lazy to care.
She said, "I'm not sure we'll make it before the rain starts," and they'd already left by then.
We've been walking for hours, haven't we? You're right, it's getting late and I'm tired.
In 2023 the company shipped 1,204,556 units, up 17.5% from 2022. Revenue reached $3.2 billion.
Call 555-0142 between 9:00 and 17:30, Monday to Friday. Order #48213 ships on 2024-03-15.
The temperature fell from 21.4 to -3.8 degrees overnight; 100% of the sensors agreed.
Functions like f(x) = x^2 + 3*x - 7 and g(y) = [y, y+1, y+2] appear in chapter 12.
def tokenize(text): return [t for t in text.split() if t != ""]  # a comment, with symbols: @ # $ % & * { } |
for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }   // accumulate
Paths such as /usr/local/bin and C:\\Program Files\\App are common; so are URLs like https://example.org/a?b=c&d=e.
    Indented lines keep their leading spaces.
		Tabs appear too,	between words,	and at the end.	
Multiple   spaces   between   words   are   kept   as   they   are.
Trailing spaces come next.   
Blank lines follow.


Then the text goes on. Line one
line two
line three
Le café était plein ; la serveuse, très polie, a apporté un croissant et un thé à la menthe.
Über den Wolken muss die Freiheit wohl grenzenlos sein, sagte der Bäcker aus München.
El niño comió una piña en la mañana; ¿quién sabe por qué? ¡Qué día tan extraño!
Tiếng Việt có nhiều dấu: ă, â, ê, ô, ơ, ư, đ; chúng tôi đã học ở Hà Nội.
Ångström, naïve, résumé, façade, coöperate, Zoë and Chloë met at the fiancée's soirée.
東京は日本の首都です。今日はとても良い天気ですね。私は毎朝コーヒーを飲みます。
北京是中国的首都。我们今天去公园散步，天气很好。学习语言需要时间和耐心。
서울은 한국의 수도입니다. 오늘 날씨가 정말 좋네요. 저는 매일 아침 커피를 마십니다.
日本語と中文と한국어が混ざった文章も、時々あります。東京、北京、서울。
Emoji are text too: 😀 😂 🎉 👍 ❤️ 🚀 🌍 and families like 👨‍👩‍👧‍👦 or waves with skin tones 👋🏽 👋🏿.
I love pizza 🍕 and coffee ☕, but not on Mondays 😴. Great job! 👏👏👏
Quotes: “curly double”, ‘curly single’, «guillemets», and the em dash — plus an ellipsis…
Math: α + β = γ, ∑ x² ≤ ∞, √2 ≈ 1.41421, and 3 × 4 ÷ 2 = 6.
ALL CAPS SENTENCES SHOUT. DON'T YOU THINK SO? WE'LL SEE. IT'S FINE, I'M SURE.
the the the the and and and of of of to to to in in in is is is that that that it it it
walking talking running jumping reading writing singing thinking working playing
nation national nationality international internationally relation relationship
The weather today is nice. The weather tomorrow will be nice too. The weather is the weather.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 42 99 100 256 1024 65536 3.14159 2.71828
"""

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
                  r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")

# Strings every byte-level tokenizer is checked on: the corpus's kinds of text, plus scripts and symbols it never
# saw, whitespace at the edges, control characters and a Unicode 15.0 letter (U+1E030, Lm) for the category table.
BYTE_LEVEL_TEXTS = [
    "Hello, world! This is a test.",
    "I'm sure they'll say it's fine, but we'd've known. DON'T 'S 'sup 'Ve",
    "The year 2024 had 366 days; pi is 3.14159 and 1,234,567.89 is big.",
    "a   b\t\tc\n\n  d  ",
    "   leading spaces and trailing   ",
    "café naïve résumé Ångström façade",
    "東京は日本の首都です。北京是中国的首都，서울은 한국의 수도입니다.",
    "emoji: 👋🏽 👨‍👩‍👧 🎉🎉! 🦀🦀",
    "“quotes” — ‘single’ … «guillemets» ¿qué?",
    "\u00a0nbsp\u3000ideographic\u2028separator\u0085next",
    "tabs\tand\nnewlines\r\nmixed \n \n",
    "Привет, мир! Γειά σου κόσμε! नमस्ते दुनिया",
    "x" * 50 + "yyyy" + "!" * 7,
    "",
    " ",
    "\n",
    "\x00\x01\x1f\x7f control",
    "letter \U0001E030 from Unicode 15 and digits \U0001D7CE\U0001D7CF",
    "combining e\u0301 and a\u0308",
    "hello\n\n\nworld  \n  spaced\t\n",
    "!!!\n\n??? ...\r\n--",
    "12345678 987654321 3.14 1e10 0x1F",
    "I'M 'Re 'LL 'Ve 'D '\u017f and 'X",
    "def f(x):\n    return x**2  # square\n",
    "the weather is nice and the nation is national",
    "Emoji families 👨‍👩‍👧‍👦 and 😀😂 together",
    "supercalifragilisticexpialidocious internationalization",
]


# ---- (a) byte-level BPE: trainer and GPT-2 reference encoder ---------------------------------------------------------

def train_byte_bpe(text, n_merges):
    """Classic BPE training: repeatedly merge the most frequent adjacent pair (ties: the smallest pair) in the
    pre-tokenized words, weighted by word count."""
    words = Counter(to_symbols(w) for w in regex.findall(GPT2_PATTERN, text))
    segs = {w: list(w) for w in words}
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for w, n in words.items():
            s = segs[w]
            for pair in zip(s, s[1:]):
                counts[pair] += n
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        for w in words:
            segs[w] = merge_pair(segs[w], best)
    return merges


def gpt2_bpe(symbols, ranks):
    """encoder.py's merge loop: take the lowest-ranked adjacent pair present, merge every occurrence of it scanning
    left to right, and repeat until no adjacent pair is ranked."""
    parts = list(symbols)
    while len(parts) > 1:
        ranked = [(ranks[p], p) for p in zip(parts, parts[1:]) if p in ranks]
        if not ranked:
            break
        _, (left, right) = min(ranked)
        merged, i = [], 0
        while i < len(parts):
            if parts[i] == left and i + 1 < len(parts) and parts[i + 1] == right:
                merged.append(left + right)
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def split_added(text, added):
    """Splits out added tokens: leftmost-longest literal matches, with single_word / lstrip / rstrip as Hugging Face
    applies them. Returns a list of str (plain text) and int (token id) items."""
    out, done, pos = [], 0, 0
    by_length = sorted(added, key=lambda a: -len(a["content"]))
    while pos < len(text):
        hit = next((a for a in by_length if text.startswith(a["content"], pos)), None)
        if hit is None:
            pos += 1
            continue
        start, stop = pos, pos + len(hit["content"])
        pos = stop
        if hit.get("single_word"):
            word = regex.compile(r"\w")
            if (start > 0 and word.match(text[start - 1])) or (stop < len(text) and word.match(text[stop])):
                continue
        if hit.get("lstrip"):
            while start > done and text[start - 1].isspace():
                start -= 1
        if hit.get("rstrip"):
            while stop < len(text) and text[stop].isspace():
                stop += 1
        if done < start:
            out.append(text[done:start])
        out.append(hit["id"])
        done = pos = stop
    if done < len(text):
        out.append(text[done:])
    return out


def reference_byte_level(text, vocab, ranks, added, pattern, ignore_merges=False, nfc=False):
    ids = []
    for item in split_added(text, added):
        if isinstance(item, int):
            ids.append(item)
            continue
        if nfc:
            item = unicodedata.normalize("NFC", item)
        for word in regex.findall(pattern, item):
            symbols = to_symbols(word)
            if ignore_merges and symbols in vocab:
                ids.append(vocab[symbols])
                continue
            ids.extend(vocab[p] for p in gpt2_bpe(symbols, ranks))
    return ids


def added_token(id_, content, special=True, **flags):
    return {"id": id_, "content": content, "single_word": flags.get("single_word", False),
            "lstrip": flags.get("lstrip", False), "rstrip": flags.get("rstrip", False),
            "normalized": flags.get("normalized", not special), "special": special}


def bpe_model(vocab, merges, **extra):
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    model.update(extra)
    return model


def write_json(path, obj, compact=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        else:
            json.dump(obj, f, ensure_ascii=False, indent=1)


def byte_level_fixtures(expected):
    merges = train_byte_bpe(CORPUS, 240)
    vocab = {sym: i for i, (_, sym) in enumerate(BYTE_PAIRS)}
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    eot = len(vocab)
    vocab["<|endoftext|>"] = eot
    ranks = {m: r for r, m in enumerate(merges)}
    merge_lines = [f"{a} {b}" for a, b in merges]

    # GPT-2: original files and tokenizer.json.
    write_json(os.path.join(OUT, "gpt2", "vocab.json"), vocab)
    with open(os.path.join(OUT, "gpt2", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merge_lines) + "\n")
    gpt2_added = [added_token(eot, "<|endoftext|>")]
    write_json(os.path.join(OUT, "gpt2", "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": gpt2_added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": bpe_model(vocab, merge_lines)})
    gpt2_texts = BYTE_LEVEL_TEXTS + ["Hello<|endoftext|> world<|endoftext|><|endoftext|>", "<|endoftext|>",
                                     "a<|endoftext|b <|endoftext|>"]
    expected["gpt2/tokenizer.json"] = [
        {"text": t, "ids": reference_byte_level(t, vocab, ranks, gpt2_added, GPT2_PATTERN)} for t in gpt2_texts]

    # Llama 3 style: same vocabulary and merges, Llama 3's regex, ignore_merges and a BOS template.
    l3_vocab = dict(vocab)
    del l3_vocab["<|endoftext|>"]
    base = len(l3_vocab)
    l3_added = [added_token(base + 0, "<|begin_of_text|>"), added_token(base + 1, "<|end_of_text|>"),
                added_token(base + 2, "<|eot_id|>"), added_token(base + 3, "<|reserved_special_token_0|>"),
                added_token(base + 4, "<mask>", special=False, lstrip=True, normalized=False),
                added_token(base + 5, "<rs>", special=False, rstrip=True, normalized=False),
                added_token(base + 6, "[WORD]", special=False, single_word=True, normalized=False)]
    # Words that are tokens but that the merge loop would split differently: ignore_merges emits them whole.
    divergent = [t for t in l3_vocab if len(t) > 1 and gpt2_bpe(t, ranks) != [t]]
    l3_extra = [bytes(B2U_INV[c] for c in t).decode("utf-8", errors="replace") for t in divergent[:4]]
    write_json(os.path.join(OUT, "llama3", "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": l3_added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [base],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": bpe_model(l3_vocab, merge_lines, ignore_merges=True)})
    l3_texts = BYTE_LEVEL_TEXTS + l3_extra + [
        "<|begin_of_text|>Hello<|eot_id|>", "fill the   <mask> here", "a <rs>   b", "[WORD] x[WORD] [WORD]y [WORD].",
        "<|reserved_special_token_0|><|end_of_text|>"]
    expected["llama3/tokenizer.json"] = [
        {"text": t, "ids": reference_byte_level(t, l3_vocab, ranks, l3_added, LLAMA3_PATTERN, ignore_merges=True),
         "bos": base, "lossy": "<mask>" in t or "<rs>" in t} for t in l3_texts]  # l/rstrip drop whitespace

    # Qwen2 style: NFC normalizer (the strings are NFC already), Qwen2's regex.
    q_added = [added_token(base, "<|endoftext|>"), added_token(base + 1, "<|im_start|>"),
               added_token(base + 2, "<|im_end|>")]
    write_json(os.path.join(OUT, "qwen2", "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": q_added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": bpe_model(l3_vocab, [[a, b] for a, b in merges])})
    q_texts = [t for t in BYTE_LEVEL_TEXTS if unicodedata.is_normalized("NFC", t)] + [
        "<|im_start|>user\nhi<|im_end|>\n"]
    expected["qwen2/tokenizer.json"] = [
        {"text": t, "ids": reference_byte_level(t, l3_vocab, ranks, q_added, QWEN2_PATTERN, nfc=True)}
        for t in q_texts]
    return vocab, merges


B2U_INV = {c: b for b, c in BYTE_PAIRS}


# ---- (b) SentencePiece BPE with byte fallback ------------------------------------------------------------------------

SP_TEXTS = [
    "Hello, world! This is a test.",
    "The weather today is nice.",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "Multiple   spaces   here",
    "tabs\tand\nnewlines\n",
    "I'm sure they'll say it's fine.",
    "Numbers: 2024, 3.14159 and 1,234,567",
    "Le café était plein ; über München, ¿qué?",
    "東京は日本の首都です。北京是中国的首都。",
    "서울은 한국의 수도입니다.",
    "Emoji 😀 🎉 👍 and unseen 🦀 🐙",
    "Unseen scripts: Привет мир, नमस्ते, مرحبا, ᚠᚢᚦ",
    "Rare CJK 鑫龘 and symbols ∮ ⌘ ♞",
    "x",
    "",
    "walking talking running national international",
    "ALL CAPS DON'T SHOUT",
    "mixed 日本語 English 한국어 😀 text",
    "\u00a0non-breaking\u3000spaces",
    "internationalization-interrelationships_of_the_weather",
]
SP_SPECIAL_TEXTS = ["<s>Hello</s>", "Hi <s> there</s> again", "</s></s>", "a<unk>b"]


def sentencepiece_fixtures(expected):
    lines = [line for line in CORPUS.split("\n") if line]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=800,
        character_coverage=0.9995, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    vocab = {p: i for i, (p, _) in enumerate(pieces)}
    assert len(vocab) == len(pieces), "sentencepiece pieces must be unique"
    # LlamaConverter's merges: every split of every piece into two pieces, grouped per merged piece in (left id,
    # right id) order, then stably sorted by the merged piece's score, highest first.
    merges = []
    for piece, score in pieces:
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        merges.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    merges = [(a, b) for a, b, _ in sorted(merges, key=lambda m: m[2], reverse=True)]
    added = [added_token(0, "<unk>"), added_token(1, "<s>"), added_token(2, "</s>")]
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    model_json = bpe_model(vocab, [f"{a} {b}" for a, b in merges], unk_token="<unk>", fuse_unk=True,
                           byte_fallback=True)
    write_json(os.path.join(OUT, "llama2", "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None, "post_processor": template, "decoder": decoder, "model": model_json})
    write_json(os.path.join(OUT, "mistral", "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        "post_processor": template, "decoder": decoder,
        "model": dict(model_json, merges=[[a, b] for a, b in merges])})

    def case(text, metaspace=False):
        # HF's Metaspace pre-tokenizer prepends ▁ only to text that does not already start with one (a leading
        # space), where sentencepiece's dummy prefix always adds it: there HF sees what sentencepiece makes of the
        # text without that space.
        ids = sp.encode(text[1:] if metaspace and text.startswith(" ") else text)
        return {"text": text, "ids": ids, "decoded": sp.decode(ids), "bos": 1}

    cases = [case(t) for t in SP_TEXTS]
    byte_pieces = sum(1 for i in range(sp.get_piece_size()) if sp.is_byte(i))
    assert any(sp.is_byte(i) for c in cases for i in c["ids"]), "no string exercises byte fallback"
    expected["llama2/tokenizer.json"] = cases
    cases = [case(t, metaspace=True) for t in SP_TEXTS]
    # Metaspace with prepend_scheme "first" prefixes ▁ only to the segment at the start of the text; a later segment
    # that begins with one space is then what sentencepiece makes of the text after that space.
    later = {"text": "Hi <s> there", "ids": sp.encode("Hi ") + [1] + sp.encode("there"), "bos": 1}
    expected["mistral/tokenizer.json"] = cases + [later]
    # Added tokens: HF splits them out first, then each segment is normalized (and so gets its own ▁) and encoded.
    special = []
    for text in SP_SPECIAL_TEXTS:
        ids = []
        for item in split_added(text, added):
            ids.extend([item] if isinstance(item, int) else sp.encode(item))
        special.append({"text": text, "ids": ids, "bos": 1})
    expected["llama2/tokenizer.json"] += special
    return sp.get_piece_size(), byte_pieces, len(merges)


# ---- (c) malformed files ---------------------------------------------------------------------------------------------

def malformed_fixtures():
    d = os.path.join(OUT, "malformed")
    os.makedirs(d, exist_ok=True)
    vocab = {"a": 0, "b": 1, "ab": 2, "c": 3}

    def tok(model, **extra):
        obj = {"version": "1.0", "added_tokens": [], "normalizer": None,
               "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
               "decoder": {"type": "ByteLevel"}, "model": model}
        obj.update(extra)
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    files = {
        "truncated.json": tok(bpe_model(vocab, ["a b"]))[:-20],
        "duplicate_key.json": tok(bpe_model(vocab, ["a b"])).replace('"ab":2', '"ab":2,"a":5'),
        "unknown_merge.json": tok(bpe_model(vocab, ["a b", "a zz"])),
        "merge_result_missing.json": tok(bpe_model(vocab, ["a b", "b c"])),
        "vocab_id_string.json": tok(bpe_model(vocab, ["a b"])).replace('"c":3', '"c":"3"'),
        "added_tokens_not_array.json": tok(bpe_model(vocab, ["a b"]), added_tokens={"id": 3}),
        "unigram.json": tok({"type": "Unigram", "unk_id": 0, "vocab": [["a", -1.0]]}),
        "unsupported_regex.json": tok(bpe_model(vocab, ["a b"]), pre_tokenizer={
            "type": "Split", "pattern": {"Regex": r"\w+|\d+"}, "behavior": "Isolated", "invert": False}),
        "merges_vocab.json": json.dumps(vocab, separators=(",", ":")),
        "merges_unknown.txt": "#version: 0.2\na b\n\nq b\n",
    }
    for name, text in files.items():
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)
    # Raw 0xFF inside a vocabulary key: not UTF-8, so not JSON.
    with open(os.path.join(d, "invalid_utf8_vocab.json"), "wb") as f:
        f.write(tok(bpe_model(vocab, ["a b"])).encode().replace(b'"c":3', b'"c\xff":3'))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    expected = {}
    vocab, merges = byte_level_fixtures(expected)
    sp_size, sp_bytes, sp_merges = sentencepiece_fixtures(expected)
    malformed_fixtures()
    write_json(os.path.join(OUT, "expected.json"), expected, compact=False)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"byte-level: {len(vocab)} tokens, {len(merges)} merges; sentencepiece: {sp_size} pieces "
          f"({sp_bytes} byte pieces), {sp_merges} merges; fixtures {total} bytes")


if __name__ == "__main__":
    main()
