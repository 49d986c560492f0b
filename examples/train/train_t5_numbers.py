"""Trains examples/models/numbers-t5: a T5 v1.1-style encoder-decoder (gated-GELU feed-forward, untied LM head) that
spells numbers out in English: "48213" -> "forty-eight thousand two hundred thirteen" (0 <= n < 1,000,000, no "and",
hyphenated tens). Answers are checked exactly; 1000 held-out numbers never seen in training measure exact-match
accuracy with greedy decoding and with beam search (4 beams), computed here in PyTorch on the shipped bf16 weights.

Usage: /usr/bin/python3 examples/train/train_t5_numbers.py [--threads N] [--steps N] [--lr X]
Writes config.json, model.safetensors (bf16), tokenizer.json (byte-level BPE, specials <pad>=0 </s>=1 <unk>=2, a
"$A </s>" template), README.md and expected.json (held-out inputs, expected outputs, PyTorch logits)."""
import argparse
import math
import os
import random
import time

import torch
import torch.nn.functional as F

import data
import models

NAME = "numbers-t5"
SPECIALS = ["<pad>", "</s>", "<unk>"]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
STEPS, BATCH, LR = 2500, 32, 1e-3  # at 3e-3 the loss sits on a ~1.0 plateau (grammar without digit alignment)
BEAMS = 4


def below_thousand(n):
    parts = []
    if n >= 100:
        parts.append(ONES[n // 100] + " hundred")
        n %= 100
    if n >= 20:
        parts.append(TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else ""))
    elif n > 0:
        parts.append(ONES[n])
    return " ".join(parts)


def spell(n):
    if n == 0:
        return "zero"
    high, low = divmod(n, 1000)
    return " ".join(p for p in (below_thousand(high) + " thousand" if high else "", below_thousand(low)) if p)


def sample_number(rng):
    """Digit count uniform in 1..6, so short numbers are as common as long ones."""
    digits = rng.randint(1, 6)
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def post_processor(tok):
    eos = {"SpecialToken": {"id": "</s>", "type_id": 0}}
    return {"type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, eos],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, eos, {"Sequence": {"id": "B", "type_id": 0}}, eos],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [tok.id("</s>")], "tokens": ["</s>"]}}}


def batch_tensors(tok, numbers):
    """(encoder ids, decoder inputs, labels), right-padded with <pad> (labels with -100)."""
    src = [tok.encode(str(n)) + [1] for n in numbers]
    tgt = [tok.encode(spell(n)) + [1] for n in numbers]
    S, T = max(map(len, src)), max(map(len, tgt))
    ids = torch.tensor([s + [0] * (S - len(s)) for s in src])
    dec = torch.tensor([[0] + t[:-1] + [0] * (T - len(t)) for t in tgt])
    labels = torch.tensor([t + [-100] * (T - len(t)) for t in tgt])
    return ids, dec, labels


def exact_match(model, tok, numbers, beams):
    """Predicted texts and exact-match accuracy (greedy when beams == 1)."""
    model.eval()
    preds = []
    if beams == 1:
        for i in range(0, len(numbers), 100):
            ids, _, _ = batch_tensors(tok, numbers[i:i + 100])
            preds += model.greedy(ids, 32)
    else:
        for n in numbers:
            ids, _, _ = batch_tensors(tok, [n])
            preds.append(model.beam(ids, beams, 32))
    texts = [tok.decode(p) for p in preds]
    model.train()
    return texts, sum(t == spell(n) for t, n in zip(texts, numbers)) / len(numbers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=STEPS, help="override the step count (for timing runs)")
    ap.add_argument("--lr", type=float, default=LR, help="peak learning rate")
    ap.add_argument("--held-out", type=int, default=1000, help="held-out set size (smaller for timing runs)")
    args = ap.parse_args()
    steps, peak = args.steps, args.lr
    data.setup(seed=11, threads=args.threads)

    rng = random.Random(11)
    held_out = []
    while len(held_out) < args.held_out:
        n = sample_number(rng)
        if n >= 100 and n not in held_out:  # the 100 numbers below 100 are the lexicon: all stay in training
            held_out.append(n)
    held = set(held_out)
    corpus = "\n".join(spell(n) for n in range(0, 1000000, 7))  # every word and hyphen pattern occurs
    tok = data.ByteBpe(data.train_bpe(corpus, 200), SPECIALS, specials_first=True)
    data.write_json(os.path.join(data.MODELS_DIR, NAME, "tokenizer.json"), tok.tokenizer_json(post_processor(tok)))

    c = models.t5_config(vocab_size=len(tok), d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4,
                         feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
                         torch_dtype="bfloat16")
    model = models.T5ForConditionalGeneration(c)
    n_params = data.param_count(model.state_dict_hf())
    print(f"{NAME}: {n_params} parameters, vocab {len(tok)}, {steps} steps of {BATCH}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=0.01)
    start, smooth = time.time(), None
    for step in range(steps):
        warm = max(1, steps // 20)
        lr = peak * (step + 1) / warm if step < warm else \
            peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm))))
        for group in opt.param_groups:
            group["lr"] = lr
        numbers = []
        while len(numbers) < BATCH:
            n = sample_number(rng)
            if n not in held:
                numbers.append(n)
        ids, dec, labels = batch_tensors(tok, numbers)
        logits = model(ids, dec)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {smooth:.4f}  {time.time() - start:7.1f}s", flush=True)

    model.eval()
    data.round_to(model, torch.bfloat16)
    with torch.no_grad():
        ids, dec, labels = batch_tensors(tok, held_out)
        logits = model(ids, dec)
        val_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)).item()
    greedy_texts, greedy_acc = exact_match(model, tok, held_out, 1)
    beam_texts, beam_acc = exact_match(model, tok, held_out, BEAMS)
    minutes = (time.time() - start) / 60
    print(f"final validation loss (bf16 weights): {val_loss:.4f}; held-out exact match: greedy {greedy_acc:.4f}, "
          f"beam {BEAMS} {beam_acc:.4f} ({minutes:.1f} min)", flush=True)
    for n, g, b in zip(held_out, greedy_texts, beam_texts):
        if g != spell(n) or b != spell(n):
            print(f"  miss {n}: greedy {g!r} beam {b!r}")

    size = data.save_model(NAME, c, model.state_dict_hf(), torch.bfloat16)
    # Fixture: 200 held-out numbers through lamina in a test, plus full logits for the first one.
    sub = held_out[:200]
    first_ids, first_dec, _ = batch_tensors(tok, sub[:1])
    with torch.no_grad():
        first_logits = model(first_ids, first_dec)[0]
    # The fixture numbers are the first 200 held-out ones: same batches and beams, so reuse their decodings.
    sub_greedy, sub_beam = greedy_texts[:len(sub)], beam_texts[:len(sub)]
    sub_greedy_acc = sum(t == spell(n) for t, n in zip(sub_greedy, sub)) / len(sub)
    sub_beam_acc = sum(t == spell(n) for t, n in zip(sub_beam, sub)) / len(sub)
    data.write_json(os.path.join(data.MODELS_DIR, NAME, "expected.json"), {
        "note": "PyTorch (f32 math on the stored bf16 weights) for examples/train/train_t5_numbers.py",
        "logits_case": {"input_ids": first_ids[0].tolist(), "decoder_input_ids": first_dec[0].tolist(),
                        "logits": [[round(v, 5) for v in row.tolist()] for row in first_logits]},
        "num_beams": BEAMS, "max_new_tokens": 32,
        "held_out": [{"input": str(n), "input_ids": tok.encode(str(n)) + [1], "expected": spell(n),
                      "greedy": g, "beam": b} for n, g, b in zip(sub, sub_greedy, sub_beam)],
        "greedy_accuracy": sub_greedy_acc, "beam_accuracy": sub_beam_acc,
        "full_held_out": {"count": len(held_out), "greedy_accuracy": greedy_acc, "beam_accuracy": beam_acc}})
    command = f"/usr/bin/python3 examples/train/train_t5_numbers.py --threads {args.threads}"
    command += f" --steps {steps}" if steps != STEPS else ""
    command += f" --lr {peak:g}" if peak != LR else ""
    with open(os.path.join(data.MODELS_DIR, NAME, "README.md"), "w", encoding="utf-8") as f:
        f.write(f"""# {NAME}

A {n_params / 1e6:.2f} M-parameter `T5ForConditionalGeneration` (`model_type` "t5", v1.1 style: gated-GELU
feed-forward, untied LM head, no dropout; 2 encoder + 2 decoder layers, d_model 128, 4 heads of 32, d_ff 256) that
spells numbers out in English: `48213` -> `forty-eight thousand two hundred thirteen` (0 <= n < 1,000,000).
Hugging Face layout: `config.json`, `model.safetensors` (bf16, {size / 1e3:.0f} kB), `tokenizer.json` (byte-level
BPE of {len(tok)} tokens trained on the spelled-out words only, so digits stay single tokens; `<pad>`=0 is also the
decoder start token, `</s>`=1, `<unk>`=2; the post-processor appends `</s>`).

- Data: synthetic; numbers drawn with a digit count uniform in 1..6; {len(held_out)} held-out numbers of 3..6 digits
  (seed 11) are excluded from training (every number below 100 stays in training: they are the lexicon).
- Training: `{command}` ({steps} AdamW steps of {BATCH} pairs, peak learning rate {peak:g},
  seed 11, {minutes:.0f} min on {args.threads} CPU thread(s)).
- Held-out ({len(held_out)} numbers) exact match of the shipped bf16 weights: **greedy {greedy_acc:.1%}, beam search
  ({BEAMS} beams) {beam_acc:.1%}**; teacher-forced validation loss {val_loss:.4f}.
- `expected.json`: 200 of the held-out numbers with token ids, expected text and PyTorch's greedy and beam outputs
  (greedy {sub_greedy_acc:.1%}, beam {sub_beam_acc:.1%} on these), plus the full logits of one teacher-forced case.
""")


if __name__ == "__main__":
    main()
