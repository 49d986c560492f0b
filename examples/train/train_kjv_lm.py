"""Trains one of the three KJV language models (same data, same byte-level BPE, similar parameter counts):

  llama   examples/models/kjv-llama   LlamaForCausalLM (the demo model; also trains and writes the tokenizer)
  mamba   examples/models/kjv-mamba   MambaForCausalLM
  bamba   examples/models/kjv-bamba   BambaForCausalLM: Mamba-2 layers with attention at attn_layer_indices

Usage: /usr/bin/python3 examples/train/train_kjv_lm.py llama [--threads N]
Deterministic for a given thread count (fixed seed, deterministic algorithms, fixed number of steps). Prints and
records in the model's README the validation loss of the shipped (bf16-rounded) weights, and writes expected.json
(input ids, PyTorch logits, greedy continuation) for lamina's tests."""
import argparse
import math
import os
import shutil
import time

import torch
import torch.nn.functional as F

import data
import models

SEQ = 256  # training context, also max_position_embeddings of the attention models
BATCH = 8
FULL_STEPS = 1000


def arch_setup(arch, vocab, eot):
    """(name, config, model, hyper-parameters) for each architecture."""
    common = dict(vocab_size=vocab, bos_token_id=eot, eos_token_id=eot, tie_word_embeddings=True,
                  torch_dtype="bfloat16")
    if arch == "llama":
        c = models.llama_config(hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6,
                                num_key_value_heads=2, max_position_embeddings=SEQ, rms_norm_eps=1e-5, **common)
        return "kjv-llama", c, models.llama_for_causal_lm(c), dict(steps=FULL_STEPS, lr=3e-3)
    if arch == "mamba":
        c = models.mamba_config(hidden_size=192, num_hidden_layers=6, state_size=16, initializer_range=0.02,
                                pad_token_id=eot, **common)
        return "kjv-mamba", c, models.mamba_for_causal_lm(c), dict(steps=FULL_STEPS, lr=3e-3)
    if arch == "bamba":
        c = models.bamba_config(hidden_size=192, intermediate_size=384, num_hidden_layers=4, attn_layer_indices=[2],
                                num_attention_heads=6, num_key_value_heads=2, mamba_n_heads=12, mamba_d_state=32,
                                max_position_embeddings=SEQ, pad_token_id=eot, **common)
        return "kjv-bamba", c, models.bamba_for_causal_lm(c), dict(steps=FULL_STEPS, lr=3e-3)
    raise ValueError(arch)


def lr_at(step, steps, peak):
    """Linear warm-up over the first 5% of steps, then cosine decay to 10% of the peak."""
    warm = max(1, steps // 20)
    if step < warm:
        return peak * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def validation_loss(model, windows, batch=16):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, windows.shape[0], batch):
        w = windows[i:i + batch]
        logits = model(w[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction="sum").item()
        count += w[:, 1:].numel()
    model.train()
    return total / count


@torch.no_grad()
def sample(model, tok, prompt, n, generator, temperature=0.8, top_k=40):
    ids = tok.encode(prompt)
    for _ in range(n):
        logits = model(torch.tensor([ids[-SEQ:]]))[0, -1] / temperature
        top = logits.topk(top_k)
        ids.append(int(top.indices[torch.multinomial(top.values.softmax(-1), 1, generator=generator)]))
    return tok.decode(ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch", choices=["llama", "mamba", "bamba"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="override the step count (for timing runs)")
    args = ap.parse_args()
    data.setup(seed=7, threads=args.threads)

    tok = data.kjv_tokenizer()
    train, val = data.kjv_tokens(tok)
    eot = tok.id(data.EOT)
    name, config, model, hp = arch_setup(args.arch, len(tok), eot)
    steps = args.steps or hp["steps"]
    n_params = data.param_count(models.tied_state_dict(model))
    print(f"{name}: {n_params} parameters, {train.numel()} training / {val.numel()} validation tokens, "
          f"{steps} steps of {BATCH}x{SEQ}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["lr"], betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(1234)
    start, smooth = time.time(), None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, hp["lr"])
        w = data.random_windows(train, BATCH, SEQ, g)
        logits = model(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        if step % 25 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {smooth:.4f}  {time.time() - start:7.1f}s", flush=True)

    model.eval()
    data.round_to(model, torch.bfloat16)
    val_loss = validation_loss(model, data.tiled_windows(val, SEQ))
    minutes = (time.time() - start) / 60
    print(f"final validation loss (bf16 weights): {val_loss:.4f} nats/token, ppl {math.exp(val_loss):.2f}, "
          f"{minutes:.1f} min", flush=True)

    state = models.tied_state_dict(model)
    size = data.save_model(name, config, state, torch.bfloat16)
    if name != "kjv-llama":  # every model directory is complete on its own: the shared tokenizer goes in each
        shutil.copyfile(data.KJV_TOKENIZER, os.path.join(data.MODELS_DIR, name, "tokenizer.json"))

    # Fixture: the first 24 tokens of a held-out chapter.
    prompt_ids = val[:24].tolist()
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids]))[0]
    greedy = model.greedy(prompt_ids, 24)
    rows = [0, len(prompt_ids) // 2, len(prompt_ids) - 1]
    data.write_json(os.path.join(data.MODELS_DIR, name, "expected.json"), {
        "note": "PyTorch (f32 math on the stored bf16 weights) for examples/train/train_kjv_lm.py " + args.arch,
        "input_ids": prompt_ids, "input_text": tok.decode(prompt_ids),
        "logit_rows": rows, "logits": [[round(v, 5) for v in logits[r].tolist()] for r in rows],
        "greedy_ids": greedy, "greedy_text": tok.decode(greedy),
        "validation_loss": round(val_loss, 4)})

    samples = [sample(model, tok, p, 60, torch.Generator().manual_seed(s))
               for s, p in enumerate(["And God said", "Blessed are"])]
    for s in samples:
        print("---\n" + s, flush=True)
    write_readme(name, args, config, n_params, size, val_loss, steps, minutes, tok.decode(prompt_ids),
                 tok.decode(greedy), samples)


def write_readme(name, args, config, n_params, size, val_loss, steps, minutes, prompt, greedy, samples):
    arch = config["architectures"][0]
    command = f"/usr/bin/python3 examples/train/train_kjv_lm.py {args.arch} --threads {args.threads}"
    if args.steps:
        command += f" --steps {args.steps}"
    short = "" if steps >= FULL_STEPS else (
        f"\n**Undertrained:** only {steps} of the script's {FULL_STEPS} steps were run (the build machine's CPU was "
        f"saturated); rerun without `--steps` for the full model. The weights are still a valid checkpoint for the "
        f"loader and logits tests.\n")
    sample_text = "\n\n".join("```\n" + s + "\n```" for s in samples)
    text = f"""# {name}

A {n_params / 1e6:.2f} M-parameter `{arch}` (`model_type` "{config['model_type']}") trained on the King James
Bible, in Hugging Face layout: `config.json`, `model.safetensors` (bf16, {size / 1e6:.2f} MB, lm_head tied to the
token embedding), `tokenizer.json` (byte-level BPE, 2048 tokens, `<|endoftext|>` = {config['eos_token_id']} is
BOS/EOS; the same file in all three kjv-* models).

- Data: the King James Bible (1611, public domain) from Debian's `bible-kjv-text` package, read with its `bible`
  program, one verse a line, verse numbers stripped, chapters separated by a blank line; every 20th chapter
  (60 of 1189) is held out for validation.
- Training: `{command}`
  ({steps} AdamW steps of {BATCH} x {SEQ} tokens, seed 7, {minutes:.0f} min on {args.threads} CPU thread(s)).
- Final validation loss of the shipped bf16 weights: **{val_loss:.4f}** nats/token (perplexity {math.exp(val_loss):.1f}).
- `expected.json`: PyTorch logits and a greedy continuation for lamina's tests.
{short}
Greedy continuation of the held-out prompt `{prompt!r}`:

```
{greedy}
```

Samples (temperature 0.8, top-k 40):

{sample_text}
"""
    with open(os.path.join(data.MODELS_DIR, name, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
