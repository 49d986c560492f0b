"""Trains examples/models/sentiment-bert: a BertForSequenceClassification that labels templated review sentences
positive or negative, where the answer follows from rules a reader can check:
  * a clause "the <noun> was [not|never] [very|really|quite|truly] <adjective>" is positive when the adjective is
    positive and the clause is not negated, or the adjective is negative and the clause is negated;
  * "<clause> but <clause>": the second clause decides; "<clause> and <clause>": both clauses agree.
1000 held-out sentences never seen in training measure accuracy, computed here in PyTorch on the shipped bf16
weights.

Usage: /usr/bin/python3 examples/train/train_bert_sentiment.py [--threads N]
Writes config.json, model.safetensors (bf16), tokenizer.json (byte-level BPE, [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3
[MASK]=4, BertProcessing "[CLS] $A [SEP]"), README.md and expected.json."""
import argparse
import math
import os
import random
import time

import torch
import torch.nn.functional as F

import data
import models

NAME = "sentiment-bert"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["negative", "positive"]
NOUNS = ["food", "service", "movie", "book", "room", "staff", "music", "coffee", "view", "weather", "show", "hotel",
         "price", "story", "ending", "game", "seats", "pasta", "wine", "tour"]
POSITIVE = ["good", "great", "excellent", "wonderful", "lovely", "pleasant", "superb", "fantastic", "charming",
            "friendly", "brilliant", "nice", "perfect", "enjoyable", "delightful"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "horrible", "rude", "bland", "disappointing",
            "dreadful", "mediocre", "noisy", "slow", "unpleasant"]
NEGATORS = ["not ", "never "]
MODIFIERS = ["", "", "very ", "really ", "quite ", "truly "]
COPULAS = ["was", "is"]
STEPS, BATCH, LR = 800, 64, 2e-3


def clause(rng, label):
    negated = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if label != negated else NEGATIVE)
    return (f"the {rng.choice(NOUNS)} {rng.choice(COPULAS)} {rng.choice(NEGATORS) if negated else ''}"
            f"{rng.choice(MODIFIERS)}{adjective}")


def sentence(rng):
    """(text, label): one clause, "A but B" (B decides, A usually the opposite) or "A and B" (agreeing)."""
    label = rng.randint(0, 1)
    form = rng.random()
    if form < 0.4:
        return clause(rng, label), label
    if form < 0.7:
        first = label if rng.random() < 0.2 else 1 - label
        return f"{clause(rng, first)} but {clause(rng, label)}", label
    return f"{clause(rng, label)} and {clause(rng, label)}", label


def batch_tensors(tok, texts):
    """[CLS] ids [SEP], right-padded with [PAD]; returns (ids, attention mask)."""
    rows = [[tok.id("[CLS]")] + tok.encode(t) + [tok.id("[SEP]")] for t in texts]
    T = max(map(len, rows))
    ids = torch.tensor([r + [0] * (T - len(r)) for r in rows])
    return ids, (ids != 0).long()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=STEPS, help="override the step count (for timing runs)")
    args = ap.parse_args()
    steps = args.steps
    data.setup(seed=13, threads=args.threads)

    rng = random.Random(13)
    held_out, seen = [], set()
    while len(held_out) < 1000:
        text, label = sentence(rng)
        if text not in seen:
            seen.add(text)
            held_out.append((text, label))
    corpus = "\n".join(sentence(random.Random(i))[0] for i in range(20000))
    tok = data.ByteBpe(data.train_bpe(corpus, 150), SPECIALS, specials_first=True)
    post = {"type": "BertProcessing", "sep": ["[SEP]", tok.id("[SEP]")], "cls": ["[CLS]", tok.id("[CLS]")]}
    data.write_json(os.path.join(data.MODELS_DIR, NAME, "tokenizer.json"), tok.tokenizer_json(post))

    c = models.bert_config(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=256, max_position_embeddings=64, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0, id2label={"0": LABELS[0], "1": LABELS[1]},
                           label2id={LABELS[0]: 0, LABELS[1]: 1}, torch_dtype="bfloat16")
    model = models.BertForSequenceClassification(c)
    n_params = data.param_count(model.state_dict())
    print(f"{NAME}: {n_params} parameters, vocab {len(tok)}, {steps} steps of {BATCH}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    start, smooth = time.time(), None
    for step in range(steps):
        warm = max(1, steps // 20)
        lr = LR * (step + 1) / warm if step < warm else \
            LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm))))
        for group in opt.param_groups:
            group["lr"] = lr
        batch = []
        while len(batch) < BATCH:
            text, label = sentence(rng)
            if text not in seen:
                batch.append((text, label))
        ids, mask = batch_tensors(tok, [t for t, _ in batch])
        loss = F.cross_entropy(model(ids, mask), torch.tensor([lab for _, lab in batch]))
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
        ids, mask = batch_tensors(tok, [t for t, _ in held_out])
        logits = model(ids, mask)
    labels = torch.tensor([lab for _, lab in held_out])
    val_loss = F.cross_entropy(logits, labels).item()
    pred = logits.argmax(-1)
    acc = (pred == labels).float().mean().item()
    minutes = (time.time() - start) / 60
    print(f"final validation loss (bf16 weights): {val_loss:.4f}; held-out accuracy {acc:.4f} ({minutes:.1f} min)",
          flush=True)
    for (text, label), p in zip(held_out, pred.tolist()):
        if p != label:
            print(f"  miss: {text!r} -> {LABELS[p]}")

    size = data.save_model(NAME, c, model.state_dict(), torch.bfloat16)
    sub = held_out[:200]
    rows = [[tok.id("[CLS]")] + tok.encode(t) + [tok.id("[SEP]")] for t, _ in sub]
    sub_acc = sum(int(pred[i]) == sub[i][1] for i in range(len(sub))) / len(sub)
    data.write_json(os.path.join(data.MODELS_DIR, NAME, "expected.json"), {
        "note": "PyTorch (f32 math on the stored bf16 weights) for examples/train/train_bert_sentiment.py; each case "
                "is run alone, unpadded, token_type_ids all 0",
        "labels": LABELS,
        "held_out": [{"text": t, "input_ids": r, "label": lab, "predicted": int(pred[i]),
                      "logits": [round(v, 5) for v in logits[i].tolist()]}
                     for i, ((t, lab), r) in enumerate(zip(sub, rows))],
        "accuracy": sub_acc, "full_held_out": {"count": len(held_out), "accuracy": acc}})
    with open(os.path.join(data.MODELS_DIR, NAME, "README.md"), "w", encoding="utf-8") as f:
        f.write(f"""# {NAME}

A {n_params / 1e3:.0f} k-parameter `BertForSequenceClassification` (`model_type` "bert": 2 layers, hidden 64,
4 heads, intermediate 256, GELU, post-norm, tanh pooler, 2 labels `negative`/`positive`) that labels templated review
sentences. Hugging Face layout: `config.json` (id2label / label2id), `model.safetensors` (bf16, {size / 1e3:.0f}
kB), `tokenizer.json` (byte-level BPE of {len(tok)} tokens; `[PAD]`=0 `[UNK]`=1 `[CLS]`=2 `[SEP]`=3 `[MASK]`=4;
BertProcessing post-processor `[CLS] $A [SEP]`).

- Task (synthetic, checkable): a clause "the <noun> was [not|never] [very|really|quite|truly] <adjective>" is
  positive when a positive adjective is not negated or a negative one is; "A but B" takes B's label, "A and B" joins
  agreeing clauses. Examples: `the wine was not bad` -> positive; `the room is lovely but the staff was never
  friendly` -> negative.
- Training: `/usr/bin/python3 examples/train/train_bert_sentiment.py --threads {args.threads}` ({steps} AdamW steps
  of {BATCH} sentences, seed 13, {minutes:.0f} min on {args.threads} CPU thread(s)); 1000 held-out sentences never
  appear in training.
- Held-out accuracy of the shipped bf16 weights: **{acc:.1%}** (validation loss {val_loss:.4f}).
- `expected.json`: 200 of the held-out sentences with token ids, label, PyTorch's prediction and logits
  (accuracy {sub_acc:.1%} on these).
""")


if __name__ == "__main__":
    main()
