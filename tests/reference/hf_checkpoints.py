"""Tiny random Hugging Face checkpoints (config.json + model.safetensors, or shards with model.safetensors.index.json,
tensor names and dtypes exactly as transformers saves them) with their expected outputs, for tests/io/hf_test.cpp and
the CLI tests. transformers is not installed here: each model is a hand-written PyTorch reimplementation of the HF
modelling code (modeling_gpt2.py, modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_mixtral.py),
evaluated in float64 from the weights as stored (a bf16 checkpoint is evaluated with its bf16 values, which is what
from_pretrained(torch_dtype=float32) computes). Run with /usr/bin/python3 from the repository root.

Each fixtures/hf/<name>/ also holds expected.safetensors (input_ids, logits [T, vocab], prompt_ids, greedy_ids: 12
tokens of greedy decoding after the prompt) and expected_argmax.txt (the argmax of every logits row, for the CLI
test)."""
import json
import math
import os
import shutil

import torch

from common import save_safetensors, seeded

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "hf")
TOKENIZERS = os.path.join(HERE, "fixtures", "tokenizers")
INPUT_IDS = [5, 17, 3, 42, 8, 77, 1, 30, 64, 11]
PROMPT = [5, 17, 3, 42]
NEW_TOKENS = 12


# ----------------------------------------------------------------------------------------------------------- shared
def rms_norm(x, w, eps):  # LlamaRMSNorm
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_new(x):  # ACT2FN["gelu_new"]
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def attention(q, k, v, scale, window=None):
    """q [H, T, hd], k/v [Hkv, T, hd]; causal (and sliding-window: key j visible from i iff i - w < j <= i, as
    masking_utils.sliding_window_overlay); repeat_kv for GQA; softmax over keys."""
    H, T, _ = q.shape
    rep = H // k.shape[0]
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    scores = q @ k.transpose(1, 2) * scale
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    allowed = j <= i
    if window:
        allowed &= j > i - window
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def greedy(forward, prompt, n):
    ids = list(prompt)
    margins = []
    for _ in range(n):
        last = forward(ids)[-1]
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]) / float(last.abs().max()))
        ids.append(int(last.argmax()))
    assert min(margins) > 1e-3, f"greedy step too close to a tie ({min(margins)}); change the seed"
    return ids[len(prompt):]


def randn(g, *shape, scale=0.2):
    return torch.randn(*shape, generator=g) * scale


def write_fixture(name, config, tensors, forward, dtype=torch.float32, shards=1, tokenizer_files=()):
    """Stores the checkpoint in `dtype`, evaluates the reference from the stored values (float64) and writes the
    expected outputs."""
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    stored = {k: v.to(dtype) for k, v in tensors.items()}
    weights = {k: v.double() for k, v in stored.items()}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    if shards == 1:
        save_safetensors(os.path.join(d, "model.safetensors"), stored, {"format": "pt"})
    else:  # transformers' shard naming and index layout
        names = sorted(stored)
        per = (len(names) + shards - 1) // shards
        weight_map, total = {}, 0
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: stored[n] for n in names[s * per:(s + 1) * per]}
            save_safetensors(os.path.join(d, file), part, {"format": "pt"})
            for n, t in part.items():
                weight_map[n] = file
                total += t.numel() * t.element_size()
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    for src in tokenizer_files:
        shutil.copy(os.path.join(TOKENIZERS, src), d)

    run = lambda ids: forward(weights, config, torch.tensor(ids))
    with torch.no_grad():
        logits = run(INPUT_IDS)
        generated = greedy(run, PROMPT, NEW_TOKENS)
    save_safetensors(os.path.join(d, "expected.safetensors"), {
        "input_ids": torch.tensor(INPUT_IDS, dtype=torch.int64),
        "logits": logits.float(),
        "prompt_ids": torch.tensor(PROMPT, dtype=torch.int64),
        "greedy_ids": torch.tensor(generated, dtype=torch.int64),
    })
    with open(os.path.join(d, "expected_argmax.txt"), "w") as f:
        f.write(" ".join(str(int(i)) for i in logits.argmax(-1)) + "\n")
    # For `lamina generate --print-ids` (CLI ctest): the prompt comma-separated, the greedy ids as the CLI prints them.
    with open(os.path.join(d, "prompt_ids.txt"), "w") as f:
        f.write(",".join(str(int(i)) for i in PROMPT) + "\n")
    with open(os.path.join(d, "expected_greedy.txt"), "w") as f:
        f.write(" ".join(str(int(i)) for i in generated) + "\n")
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: {size // 1024} KB, greedy {generated}")


# ------------------------------------------------------------------------------------------------------------ GPT-2
def gpt2_tensors(c, g):
    d, ff, V, P = c["n_embd"], c.get("n_inner") or 4 * c["n_embd"], c["vocab_size"], c["n_positions"]
    t = {"wte.weight": randn(g, V, d, scale=0.2), "wpe.weight": randn(g, P, d, scale=0.5),
         "ln_f.weight": 1 + randn(g, d, scale=0.1), "ln_f.bias": randn(g, d, scale=0.1)}
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        t[p + "ln_1.weight"], t[p + "ln_1.bias"] = 1 + randn(g, d, scale=0.1), randn(g, d, scale=0.1)
        t[p + "ln_2.weight"], t[p + "ln_2.bias"] = 1 + randn(g, d, scale=0.1), randn(g, d, scale=0.1)
        t[p + "attn.c_attn.weight"], t[p + "attn.c_attn.bias"] = randn(g, d, 3 * d), randn(g, 3 * d)  # Conv1D [in, out]
        t[p + "attn.c_proj.weight"], t[p + "attn.c_proj.bias"] = randn(g, d, d), randn(g, d)
        t[p + "mlp.c_fc.weight"], t[p + "mlp.c_fc.bias"] = randn(g, d, ff), randn(g, ff)
        t[p + "mlp.c_proj.weight"], t[p + "mlp.c_proj.bias"] = randn(g, ff, d), randn(g, d)
    return t


def gpt2_forward(w, c, ids, prefix=""):
    d, H = c["n_embd"], c["n_head"]
    hd, eps = d // H, c.get("layer_norm_epsilon", 1e-5)
    W = lambda n: w[prefix + n]
    T = len(ids)
    h = W("wte.weight")[ids] + W("wpe.weight")[torch.arange(T)]
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        a = layer_norm(h, W(p + "ln_1.weight"), W(p + "ln_1.bias"), eps)
        qkv = a @ W(p + "attn.c_attn.weight") + W(p + "attn.c_attn.bias")  # Conv1D: x @ W + b
        q, k, v = (x.view(T, H, hd).transpose(0, 1) for x in qkv.split(d, dim=-1))
        o = attention(q, k, v, 1 / math.sqrt(hd)).transpose(0, 1).reshape(T, d)
        h = h + o @ W(p + "attn.c_proj.weight") + W(p + "attn.c_proj.bias")
        m = layer_norm(h, W(p + "ln_2.weight"), W(p + "ln_2.bias"), eps)
        m = gelu_new(m @ W(p + "mlp.c_fc.weight") + W(p + "mlp.c_fc.bias"))
        h = h + m @ W(p + "mlp.c_proj.weight") + W(p + "mlp.c_proj.bias")
    h = layer_norm(h, W("ln_f.weight"), W("ln_f.bias"), eps)
    head = w["lm_head.weight"] if not c.get("tie_word_embeddings", True) else W("wte.weight")
    return h @ head.T


# ------------------------------------------------------------------------------------------------------ Llama family
def rope_inv_freq(c, hd):
    theta = c.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).double() / hd))
    s = c.get("rope_scaling")
    if not s:
        return inv
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":  # _compute_linear_scaling_rope_parameters: positions / factor
        return inv / s["factor"]
    assert kind == "llama3"  # _compute_llama3_parameters
    factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / lo, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / hi) & ~(wavelen > old / lo)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def apply_rope(x, inv):  # x [H, T, hd]
    freqs = torch.arange(x.shape[1]).double()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def llama_dims(c):
    d, H = c["hidden_size"], c["num_attention_heads"]
    return d, H, c.get("num_key_value_heads") or H, c.get("head_dim") or d // H


def llama_attention_tensors(c, g, t, i, bias):
    d, H, KV, hd = llama_dims(c)
    p = f"model.layers.{i}."
    t[p + "input_layernorm.weight"] = 1 + randn(g, d, scale=0.1)
    t[p + "post_attention_layernorm.weight"] = 1 + randn(g, d, scale=0.1)
    for n, rows in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
        t[p + f"self_attn.{n}_proj.weight"] = randn(g, rows, d)
        if bias:
            t[p + f"self_attn.{n}_proj.bias"] = randn(g, rows)
    t[p + "self_attn.o_proj.weight"] = randn(g, d, H * hd)


def llama_tensors(c, g, qkv_bias=False, moe=False):
    d, V, ff = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    tied = c.get("tie_word_embeddings", False)  # a tied head favours repeating the input: keep the table small
    t = {"model.embed_tokens.weight": randn(g, V, d, scale=0.1 if tied else 0.5),
         "model.norm.weight": 1 + randn(g, d, scale=0.1)}
    if not c.get("tie_word_embeddings", False):
        t["lm_head.weight"] = randn(g, V, d, scale=0.5)
    for i in range(c["num_hidden_layers"]):
        llama_attention_tensors(c, g, t, i, qkv_bias)
        p = f"model.layers.{i}."
        if moe:
            E = c["num_local_experts"]
            t[p + "block_sparse_moe.gate.weight"] = randn(g, E, d, scale=0.5)
            for e in range(E):
                q = p + f"block_sparse_moe.experts.{e}."
                t[q + "w1.weight"], t[q + "w3.weight"], t[q + "w2.weight"] = randn(g, ff, d), randn(g, ff, d), randn(g, d, ff)
        else:
            t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"] = randn(g, ff, d), randn(g, ff, d)
            t[p + "mlp.down_proj.weight"] = randn(g, d, ff)
    return t


def swiglu(x, w1, w3, w2):  # LlamaMLP / MixtralBlockSparseTop2MLP: down(silu(gate x) * up x)
    return (torch.nn.functional.silu(x @ w1.T) * (x @ w3.T)) @ w2.T


def llama_forward(w, c, ids, window=None, moe=False):
    d, H, KV, hd = llama_dims(c)
    eps = c["rms_norm_eps"]
    inv = rope_inv_freq(c, hd)
    T = len(ids)
    b = lambda n: w.get(n, torch.zeros(()).double())
    h = w["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        proj = lambda n: a @ w[p + f"self_attn.{n}_proj.weight"].T + b(p + f"self_attn.{n}_proj.bias")
        q = apply_rope(proj("q").view(T, H, hd).transpose(0, 1), inv)
        k = apply_rope(proj("k").view(T, KV, hd).transpose(0, 1), inv)
        v = proj("v").view(T, KV, hd).transpose(0, 1)
        o = attention(q, k, v, hd ** -0.5, window).transpose(0, 1).reshape(T, H * hd)
        h = h + o @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        if moe:  # MixtralSparseMoeBlock: softmax over all experts, top-k, renormalise, weighted sum
            q = p + "block_sparse_moe."
            probs = torch.softmax(m @ w[q + "gate.weight"].T, dim=-1)
            top, idx = torch.topk(probs, c["num_experts_per_tok"], dim=-1)
            top = top / top.sum(-1, keepdim=True)
            out = torch.zeros_like(m)
            for e in range(c["num_local_experts"]):
                x = q + f"experts.{e}."
                y = swiglu(m, w[x + "w1.weight"], w[x + "w3.weight"], w[x + "w2.weight"])
                out += ((idx == e) * top).sum(-1, keepdim=True) * y
            h = h + out
        else:
            h = h + swiglu(m, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if c.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ head.T


def strip(prefix, tensors):
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in tensors.items()}


def main():
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=64, torch_dtype="float32")

    # GPT-2 as the hub stores it: no "transformer." prefix, tied head, plus the legacy attn.bias mask buffer that
    # loaders must ignore; GPT-2's vocab.json + merges.txt.
    c = dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=512, n_embd=32, n_layer=2, n_head=4,
             n_positions=64, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5)
    t = gpt2_tensors(c, seeded(1))
    t["h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 64, 64))
    write_fixture("gpt2", c, t, gpt2_forward, tokenizer_files=("gpt2/vocab.json", "gpt2/merges.txt"))

    # GPT-2 re-saved by GPT2LMHeadModel.save_pretrained with an untied head, in f16.
    c = dict(model_type="gpt2", vocab_size=96, n_embd=32, n_layer=2, n_head=2, n_positions=32, n_inner=48,
             activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=False)
    t = {"transformer." + k: v for k, v in gpt2_tensors(c, seeded(2)).items()}
    t["lm_head.weight"] = randn(seeded(3), 96, 32, scale=0.5)
    write_fixture("gpt2_untied_f16", c, t, lambda w, c, ids: gpt2_forward(w, c, ids, "transformer."), torch.float16)

    # Llama 3 style: GQA, llama3 RoPE scaling (a short original context so every band of the rule is exercised),
    # untied, sharded into two files with an index; Llama 2's tokenizer.json.
    c = dict(base, model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=800, num_key_value_heads=2,
             rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False, hidden_act="silu",
             rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                               original_max_position_embeddings=32))
    write_fixture("llama_sharded", c, llama_tensors(c, seeded(4)), llama_forward, shards=2,
                  tokenizer_files=("llama2/tokenizer.json",))

    # Llama in bf16 with tied embeddings, head_dim ≠ hidden/heads and linear RoPE scaling (legacy "type" key).
    c = dict(base, model_type="llama", vocab_size=96, num_key_value_heads=4, head_dim=12, rms_norm_eps=1e-6,
             tie_word_embeddings=True, rope_scaling=dict(type="linear", factor=2.0), torch_dtype="bfloat16")
    write_fixture("llama_bf16_tied", c, llama_tensors(c, seeded(5)), llama_forward, torch.bfloat16)

    # Mistral: sliding window 4 over 10 tokens, GQA; saved by a bare MistralModel-style prefix-free backbone.
    c = dict(base, model_type="mistral", vocab_size=96, num_key_value_heads=2, rms_norm_eps=1e-6,
             rope_theta=10000.0, sliding_window=4, tie_word_embeddings=False)
    t = strip("model.", llama_tensors(c, seeded(6)))
    write_fixture("mistral_window", c, t, lambda w, c, ids: llama_forward(
        {("model." + k if not k.startswith("lm_head") else k): v for k, v in w.items()}, c, ids, window=4))

    # Qwen2: q/k/v biases, tied head, no sliding window (use_sliding_window false); Qwen2's tokenizer.json.
    c = dict(base, model_type="qwen2", vocab_size=512, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
             tie_word_embeddings=True, use_sliding_window=False, sliding_window=4, max_window_layers=2)
    write_fixture("qwen2_tied", c, llama_tensors(c, seeded(7), qkv_bias=True), llama_forward,
                  tokenizer_files=("qwen2/tokenizer.json",))

    # Mixtral: 4 experts, top-2, sliding_window null.
    c = dict(base, model_type="mixtral", vocab_size=96, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=1e6,
             intermediate_size=48, num_local_experts=4, num_experts_per_tok=2, sliding_window=None,
             tie_word_embeddings=False)
    write_fixture("mixtral", c, llama_tensors(c, seeded(8), moe=True), lambda w, c, ids: llama_forward(w, c, ids, moe=True))

    # A directory whose checkpoint is cut short (a download that stopped): the CLI must report it, not crash.
    d = os.path.join(OUT, "broken_truncated")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(os.path.join(OUT, "gpt2", "config.json"), d)
    with open(os.path.join(OUT, "gpt2", "model.safetensors"), "rb") as f:
        head = f.read(4096)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(head)


if __name__ == "__main__":
    main()
