"""Tiny checkpoints in exact Hugging Face layout (config.json + model.safetensors with the hub's tensor names) for the
BERT, T5, Mamba, Mamba-2 and Bamba presets, with expected outputs from plain PyTorch written after transformers'
modelling code (transformers is not installed here; each function below names the HF code it follows).

Written to tests/reference/fixtures/hf/<name>/: config.json and model.safetensors as `save_pretrained` lays them
out, and expected.safetensors (inputs and outputs; the loader only ever opens model.safetensors).

  bert            BertModel (no prefix): last hidden state with token_type_ids and an attention mask with padding.
  bert_cls        BertForSequenceClassification (`bert.` prefix, pooler + classifier, 3 labels): hidden + logits.
  t5_v10          T5ForConditionalGeneration v1.0: ReLU, tied head scaled by d_model^-0.5, 2 encoder / 3 decoder
                  layers, d_kv·heads != d_model; decoder logits and a 12-token greedy decode.
  t5_v11          v1.1: gated-GELU (gelu_new), untied head, 3 encoder / 2 decoder layers; as t5_v10.
  mamba           MambaForCausalLM: tied head, time_step_rank "auto" (absent from config.json); logits + greedy ids.
  mamba2_bf16     Mamba2ForCausalLM in bfloat16: n_groups 2, untied head; logits + greedy ids.
  bamba           BambaForCausalLM: 6 layers, attention at attn_layer_indices [1, 4] (not periodic), GQA, partial
                  rotary (half of head_dim), SwiGLU after every mixer; logits + greedy ids.

The bf16 checkpoint's reference runs in float32 on the bf16 weights widened exactly, so its expected outputs are
those of the stored weights and the f32 tolerance applies. Greedy decodes recompute the whole sequence each step
(no cache) and take the argmax for exactly 12 tokens (no EOS stop). Run with Debian's /usr/bin/python3."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import save_safetensors, seeded  # noqa: E402
from mamba import causal_conv, dt_bias_init, ssd_chunked, ssd_sequential  # noqa: E402
from t5 import relative_position_bucket  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures", "hf")
GREEDY_STEPS = 12


def rnd(g, *shape, scale=0.2, offset=0.0):
    return torch.randn(*shape, generator=g) * scale + offset


def rms_norm(x, w, eps):
    """LlamaRMSNorm / T5LayerNorm / MambaRMSNorm / BambaRMSNorm: no mean, no bias."""
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def greedy(logits_of, ids, steps=GREEDY_STEPS):
    ids = list(ids)
    out = []
    for _ in range(steps):
        last = logits_of(torch.tensor(ids))[-1]
        top2 = last.topk(2).values
        # A near tie would make the ids depend on rounding: the fixtures are seeded so that none occurs.
        assert top2[0] - top2[1] > 1e-3 * last.abs().max(), (top2, len(out))
        nxt = int(last.argmax())
        out.append(nxt)
        ids.append(nxt)
    return torch.tensor(out, dtype=torch.int64)


def save(name, config, weights, expected, dtype=torch.float32):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    save_safetensors(os.path.join(d, "model.safetensors"), {k: v.to(dtype) for k, v in weights.items()},
                     {"format": "pt"})
    save_safetensors(os.path.join(d, "expected.safetensors"), expected)
    # For the CLI tests (`lamina forward`): the input ids comma-separated, and the argmax of every row of the
    # expected logits (encoder-decoders: of the decoder's), as the CLI prints them.
    for key in ("input_ids", "encoder_input_ids", "decoder_input_ids"):
        if key in expected:
            with open(os.path.join(d, key + ".txt"), "w") as f:
                f.write(",".join(str(int(i)) for i in expected[key]) + "\n")
    if "expected_logits" in expected and "greedy_ids" in expected:
        with open(os.path.join(d, "expected_argmax.txt"), "w") as f:
            f.write(" ".join(str(int(i)) for i in expected["expected_logits"].argmax(-1)) + "\n")
        # For `lamina generate --print-ids` (CLI ctest): the greedy ids as the CLI prints them.
        with open(os.path.join(d, "expected_greedy.txt"), "w") as f:
            f.write(" ".join(str(int(i)) for i in expected["greedy_ids"]) + "\n")
    size = os.path.getsize(os.path.join(d, "model.safetensors"))
    print(f"{name}: {len(weights)} tensors, {size} bytes, outputs {', '.join(sorted(expected))}")


def rounded(weights, dtype):
    """The weights as the checkpoint stores them, widened back to float32 for the reference."""
    return {k: v.to(dtype).float() for k, v in weights.items()}


# ------------------------------------------------------------------------------------------------------------ BERT


def bert_weights(g, c, prefix):
    d, ff, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    p = prefix + "embeddings."
    w = {p + "word_embeddings.weight": rnd(g, V, d, scale=0.5),
         p + "position_embeddings.weight": rnd(g, c["max_position_embeddings"], d),
         p + "token_type_embeddings.weight": rnd(g, c["type_vocab_size"], d, scale=0.5),
         p + "LayerNorm.weight": rnd(g, d, offset=1.0), p + "LayerNorm.bias": rnd(g, d)}

    def linear(name, out, inp):
        w[name + ".weight"] = rnd(g, out, inp)
        w[name + ".bias"] = rnd(g, out)

    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{i}."
        for n in ("query", "key", "value"):
            linear(p + "attention.self." + n, d, d)
        linear(p + "attention.output.dense", d, d)
        w[p + "attention.output.LayerNorm.weight"] = rnd(g, d, offset=1.0)
        w[p + "attention.output.LayerNorm.bias"] = rnd(g, d)
        linear(p + "intermediate.dense", ff, d)
        linear(p + "output.dense", d, ff)
        w[p + "output.LayerNorm.weight"] = rnd(g, d, offset=1.0)
        w[p + "output.LayerNorm.bias"] = rnd(g, d)
    return w


def bert_forward(c, w, prefix, ids, types, mask):
    """modeling_bert BertModel for one sequence: BertEmbeddings (absolute positions from 0), BertLayer × n
    (BertSelfAttention with the additive (1 - mask)·finfo.min mask and 1/sqrt(head_dim) scaling, BertSelfOutput
    LayerNorm(dense(ctx) + x), BertIntermediate ACT2FN["gelu"] = erf GELU, BertOutput LayerNorm(dense(h) + x))."""
    d, H, eps = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
    D, T = d // H, ids.shape[0]
    ln = lambda x, n: F.layer_norm(x, (d,), w[n + ".weight"], w[n + ".bias"], eps)  # noqa: E731
    lin = lambda x, n: x @ w[n + ".weight"].T + w[n + ".bias"]  # noqa: E731
    e = prefix + "embeddings."
    x = (w[e + "word_embeddings.weight"][ids] + w[e + "token_type_embeddings.weight"][types]
         + w[e + "position_embeddings.weight"][:T])
    x = ln(x, e + "LayerNorm")
    additive = (1.0 - mask.float())[None, None, :] * torch.finfo(torch.float32).min
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{i}."
        q, k, v = (lin(x, p + "attention.self." + n).view(T, H, D).transpose(0, 1) for n in ("query", "key", "value"))
        probs = (q @ k.transpose(-1, -2) / math.sqrt(D) + additive).softmax(-1)
        ctx = (probs @ v).transpose(0, 1).reshape(T, d)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = F.gelu(lin(x, p + "intermediate.dense"))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


def bert_config(**extra):
    c = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
         "num_attention_heads": 4, "intermediate_size": 56, "hidden_act": "gelu", "vocab_size": 50,
         "max_position_embeddings": 24, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
         "position_embedding_type": "absolute", "pad_token_id": 0, "torch_dtype": "float32"}
    c.update(extra)
    return c


def bert_inputs(g, V):
    # A sentence pair padded to 13 inside a batch: [CLS] a a a [SEP] b b b b [SEP], then 3 pads (type 0, mask 0).
    T, valid = 13, 10
    ids = torch.randint(3, V, (T,), generator=g)
    ids[0], ids[4], ids[valid - 1] = 1, 2, 2
    ids[valid:] = 0
    types = torch.tensor([0] * 5 + [1] * 5 + [0] * (T - valid))
    mask = torch.tensor([1] * valid + [0] * (T - valid))
    return ids, types, mask


def bert(seed=21):
    g = seeded(seed)
    c = bert_config()
    w = bert_weights(g, c, "")
    ids, types, mask = bert_inputs(g, c["vocab_size"])
    hidden = bert_forward(c, w, "", ids, types, mask)
    save("bert", c, w, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
                        "expected_hidden": hidden})


def bert_cls(seed=22):
    g = seeded(seed)
    labels = ["negative", "neutral", "positive"]
    c = bert_config(architectures=["BertForSequenceClassification"], id2label={str(i): n for i, n in enumerate(labels)},
                    label2id={n: i for i, n in enumerate(labels)}, num_hidden_layers=3)
    d = c["hidden_size"]
    w = bert_weights(g, c, "bert.")
    w.update({"bert.pooler.dense.weight": rnd(g, d, d), "bert.pooler.dense.bias": rnd(g, d),
              "classifier.weight": rnd(g, len(labels), d, scale=0.5), "classifier.bias": rnd(g, len(labels))})
    ids, types, mask = bert_inputs(g, c["vocab_size"])
    hidden = bert_forward(c, w, "bert.", ids, types, mask)
    # BertPooler: tanh(dense(h[CLS])); BertForSequenceClassification: classifier(dropout(pooled)), dropout off.
    pooled = torch.tanh(hidden[0] @ w["bert.pooler.dense.weight"].T + w["bert.pooler.dense.bias"])
    logits = pooled @ w["classifier.weight"].T + w["classifier.bias"]
    save("bert_cls", c, w, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
                            "expected_hidden": hidden, "expected_pooled": pooled, "expected_logits": logits[None]})


# -------------------------------------------------------------------------------------------------------------- T5


def t5_weights(g, c):
    d, H, D, ff, V = c["d_model"], c["num_heads"], c["d_kv"], c["d_ff"], c["vocab_size"]
    gated = c["feed_forward_proj"].startswith("gated-")
    w = {"shared.weight": rnd(g, V, d, scale=1.0)}

    def attention(p):
        for n in "qkv":
            w[f"{p}.{n}.weight"] = rnd(g, H * D, d)
        w[p + ".o.weight"] = rnd(g, d, H * D)

    def ffn(p):
        if gated:  # T5DenseGatedActDense: wi_0 through the activation, times wi_1
            w[p + ".DenseReluDense.wi_0.weight"] = rnd(g, ff, d)
            w[p + ".DenseReluDense.wi_1.weight"] = rnd(g, ff, d)
        else:  # T5DenseActDense
            w[p + ".DenseReluDense.wi.weight"] = rnd(g, ff, d)
        w[p + ".DenseReluDense.wo.weight"] = rnd(g, d, ff)
        w[p + ".layer_norm.weight"] = rnd(g, d, offset=1.0)

    for stack, depth in (("encoder", c["num_layers"]), ("decoder", c["num_decoder_layers"])):
        for i in range(depth):
            p = f"{stack}.block.{i}.layer"
            attention(p + ".0.SelfAttention")
            w[p + ".0.layer_norm.weight"] = rnd(g, d, offset=1.0)
            if i == 0:  # only layer 0 of each stack has_relative_attention_bias
                w[p + ".0.SelfAttention.relative_attention_bias.weight"] = rnd(g, c["relative_attention_num_buckets"],
                                                                               H, scale=1.0)
            if stack == "decoder":
                attention(p + ".1.EncDecAttention")
                w[p + ".1.layer_norm.weight"] = rnd(g, d, offset=1.0)
            ffn(p + (".2" if stack == "decoder" else ".1"))
        w[stack + ".final_layer_norm.weight"] = rnd(g, d, offset=1.0)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(g, V, d)
    return w


def t5_position_bias(table, q_len, k_len, bidirectional, c):
    """T5Attention.compute_bias: [heads, q_len, k_len]."""
    rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
    b = relative_position_bucket(rel, bidirectional, c["relative_attention_num_buckets"],
                                 c["relative_attention_max_distance"])
    return table[b].permute(2, 0, 1)


def t5_attention(x, kv, w, p, bias, c):
    """T5Attention: no 1/sqrt(d_kv) scaling, softmax in float32 over scores + position bias (+ mask)."""
    H, D = c["num_heads"], c["d_kv"]
    q = (x @ w[p + ".q.weight"].T).view(-1, H, D).transpose(0, 1)
    k = (kv @ w[p + ".k.weight"].T).view(-1, H, D).transpose(0, 1)
    v = (kv @ w[p + ".v.weight"].T).view(-1, H, D).transpose(0, 1)
    probs = F.softmax((q @ k.transpose(1, 2) + bias).float(), dim=-1)
    return (probs @ v).transpose(0, 1).reshape(x.shape[0], H * D) @ w[p + ".o.weight"].T


def t5_ffn(x, w, p, c):
    eps = c["layer_norm_epsilon"]
    h = rms_norm(x, w[p + ".layer_norm.weight"], eps)
    if c["feed_forward_proj"] == "relu":
        h = F.relu(h @ w[p + ".DenseReluDense.wi.weight"].T)
    else:  # "gated-gelu": ACT2FN["gelu_new"], the tanh approximation
        h = F.gelu(h @ w[p + ".DenseReluDense.wi_0.weight"].T, approximate="tanh") * (
            h @ w[p + ".DenseReluDense.wi_1.weight"].T)
    return x + h @ w[p + ".DenseReluDense.wo.weight"].T


def t5_encode(c, w, src):
    """T5Stack (encoder): the bias of layer 0's table is computed once and reused by every layer."""
    eps = c["layer_norm_epsilon"]
    x = w["shared.weight"][src]
    bias = t5_position_bias(w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], len(src),
                            len(src), True, c)
    for i in range(c["num_layers"]):
        p = f"encoder.block.{i}.layer"
        h = rms_norm(x, w[p + ".0.layer_norm.weight"], eps)
        x = x + t5_attention(h, h, w, p + ".0.SelfAttention", bias, c)
        x = t5_ffn(x, w, p + ".1", c)
    return rms_norm(x, w["encoder.final_layer_norm.weight"], eps)


def t5_decode(c, w, memory, tgt):
    """T5Stack (decoder) + T5ForConditionalGeneration's head: causal buckets and mask in self-attention, no bias in
    cross-attention; a tied head sees sequence_output · d_model^-0.5."""
    eps = c["layer_norm_epsilon"]
    T = len(tgt)
    y = w["shared.weight"][tgt]
    bias = t5_position_bias(w["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"], T, T, False, c)
    bias = bias + torch.full((T, T), float("-inf")).triu(1)
    for i in range(c["num_decoder_layers"]):
        p = f"decoder.block.{i}.layer"
        h = rms_norm(y, w[p + ".0.layer_norm.weight"], eps)
        y = y + t5_attention(h, h, w, p + ".0.SelfAttention", bias, c)
        y = y + t5_attention(rms_norm(y, w[p + ".1.layer_norm.weight"], eps), memory, w, p + ".1.EncDecAttention",
                             0.0, c)
        y = t5_ffn(y, w, p + ".2", c)
    y = rms_norm(y, w["decoder.final_layer_norm.weight"], eps)
    if c["tie_word_embeddings"]:
        return (y * c["d_model"] ** -0.5) @ w["shared.weight"].T
    return y @ w["lm_head.weight"].T


def t5(name, seed, **overrides):
    g = seeded(seed)
    c = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "d_model": 32, "d_kv": 12,
         "num_heads": 4, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 3, "vocab_size": 64,
         "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16, "layer_norm_epsilon": 1e-6,
         "feed_forward_proj": "relu", "tie_word_embeddings": True, "is_encoder_decoder": True,
         "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1, "n_positions": 64,
         "torch_dtype": "float32"}
    c.update(overrides)
    w = t5_weights(g, c)
    src = torch.randint(2, c["vocab_size"], (19,), generator=g)
    tgt = torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(2, c["vocab_size"], (16,), generator=g)])
    memory = t5_encode(c, w, src)
    logits = t5_decode(c, w, memory, tgt)
    start = [c["decoder_start_token_id"]]
    generated = greedy(lambda ids: t5_decode(c, w, memory, ids), start)
    save(name, c, w, {"encoder_input_ids": src, "decoder_input_ids": tgt, "expected_memory": memory,
                      "expected_logits": logits, "greedy_ids": generated})


# ----------------------------------------------------------------------------------------------------------- Mamba


def mamba_mixer(h, w, p, c):
    """MambaMixer.slow_forward without a cache (see tests/reference/mamba.py for the steps)."""
    T = h.shape[0]
    E, N = c["intermediate_size"], c["state_size"]
    R = math.ceil(c["hidden_size"] / 16) if c.get("time_step_rank", "auto") == "auto" else c["time_step_rank"]
    hidden, gate = (h @ w[p + "in_proj.weight"].T).chunk(2, dim=-1)
    hidden = F.silu(causal_conv(hidden, w[p + "conv1d.weight"][:, 0, :], w[p + "conv1d.bias"]))
    time_step, B, C = torch.split(hidden @ w[p + "x_proj.weight"].T, [R, N, N], dim=-1)
    dt = F.softplus(time_step @ w[p + "dt_proj.weight"].T + w[p + "dt_proj.bias"])
    A = -torch.exp(w[p + "A_log"].float())
    discrete_A = torch.exp(A[None] * dt[:, :, None])
    deltaB_u = dt[:, :, None] * B[:, None, :] * hidden[:, :, None]
    state = torch.zeros(E, N)
    ys = []
    for t in range(T):
        state = discrete_A[t] * state + deltaB_u[t]
        ys.append(state @ C[t])
    y = (torch.stack(ys) + hidden * w[p + "D"]) * F.silu(gate)
    return y @ w[p + "out_proj.weight"].T


def ssm_lm(c, w, ids, mixer):
    """MambaModel / Mamba2Model: embeddings, blocks x + mixer(norm(x)), norm_f; MambaForCausalLM's head (tied to
    backbone.embeddings when there is no lm_head.weight)."""
    eps = c["layer_norm_epsilon"]
    x = w["backbone.embeddings.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"backbone.layers.{i}."
        x = x + mixer(rms_norm(x, w[p + "norm.weight"], eps), w, p + "mixer.", c)
    x = rms_norm(x, w["backbone.norm_f.weight"], eps)
    return x @ w.get("lm_head.weight", w["backbone.embeddings.weight"]).T


def mamba(seed=31):
    g = seeded(seed)
    c = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": 40, "intermediate_size": 80,
         "expand": 2, "state_size": 6, "conv_kernel": 4, "num_hidden_layers": 3, "vocab_size": 64,
         "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
         "residual_in_fp32": True, "tie_word_embeddings": True, "torch_dtype": "float32"}
    d, E, N, K, V = c["hidden_size"], c["intermediate_size"], c["state_size"], c["conv_kernel"], c["vocab_size"]
    R = math.ceil(d / 16)  # time_step_rank "auto"
    w = {"backbone.embeddings.weight": rnd(g, V, d, scale=0.5), "backbone.norm_f.weight": rnd(g, d, offset=1.0)}
    for i in range(c["num_hidden_layers"]):
        p = f"backbone.layers.{i}."
        A = torch.arange(1, N + 1, dtype=torch.float32)[None].expand(E, N)
        w.update({p + "norm.weight": rnd(g, d, offset=1.0), p + "mixer.in_proj.weight": rnd(g, 2 * E, d),
                  p + "mixer.conv1d.weight": rnd(g, E, 1, K, scale=0.4), p + "mixer.conv1d.bias": rnd(g, E),
                  p + "mixer.x_proj.weight": rnd(g, R + 2 * N, E), p + "mixer.dt_proj.weight": rnd(g, E, R, scale=0.5),
                  p + "mixer.dt_proj.bias": dt_bias_init(E, g) + rnd(g, E),
                  p + "mixer.A_log": torch.log(A) + rnd(g, E, N, scale=0.1), p + "mixer.D": rnd(g, E, offset=1.0),
                  p + "mixer.out_proj.weight": rnd(g, d, E)})
    ids = torch.randint(0, V, (10,), generator=g)
    logits = ssm_lm(c, w, ids, mamba_mixer)
    generated = greedy(lambda t: ssm_lm(c, w, t, mamba_mixer), ids)
    save("mamba", c, w, {"input_ids": ids, "expected_logits": logits, "greedy_ids": generated})


def mamba2_mixer(h, w, p, c, chunk=5):
    """Mamba2Mixer.torch_forward without a cache; BambaMixer is the same computation. The chunked SSD result is
    checked against the plain recurrence; MambaRMSNormGated gates first, then normalises all of d_inner."""
    T = h.shape[0]
    H, P, G, N = c["num_heads"], c["head_dim"], c["n_groups"], c["state_size"]
    E = H * P
    gate, xBC, dt = torch.split(h @ w[p + "in_proj.weight"].T, [E, E + 2 * G * N, H], dim=-1)
    xBC = F.silu(causal_conv(xBC, w[p + "conv1d.weight"][:, 0, :], w[p + "conv1d.bias"]))
    x, B, C = torch.split(xBC, [E, G * N, G * N], dim=-1)
    A = -torch.exp(w[p + "A_log"].float())
    dt = F.softplus(dt + w[p + "dt_bias"])
    x = x.reshape(T, H, P)
    B = B.reshape(T, G, N).repeat_interleave(H // G, dim=1)
    C = C.reshape(T, G, N).repeat_interleave(H // G, dim=1)
    y, final = ssd_chunked(x, dt, A, B, C, chunk)
    y_seq, final_seq = ssd_sequential(x, dt, A, B, C)
    assert torch.allclose(y, y_seq, atol=1e-4, rtol=1e-4) and torch.allclose(final, final_seq, atol=1e-4, rtol=1e-4)
    y = (y + x * w[p + "D"][:, None]).reshape(T, E) * F.silu(gate)
    y = rms_norm(y, w[p + "norm.weight"], c["layer_norm_epsilon"])
    return y @ w[p + "out_proj.weight"].T


def mamba2_layer_weights(g, w, p, d, H, P, G, N, K):
    E = H * P
    CD = E + 2 * G * N
    w.update({p + "in_proj.weight": rnd(g, E + CD + H, d), p + "conv1d.weight": rnd(g, CD, 1, K, scale=0.4),
              p + "conv1d.bias": rnd(g, CD), p + "dt_bias": dt_bias_init(H, g) + rnd(g, H),
              p + "A_log": torch.log(torch.arange(1, H + 1, dtype=torch.float32)) + rnd(g, H, scale=0.1),
              p + "D": rnd(g, H, offset=1.0), p + "norm.weight": rnd(g, E, offset=1.0),
              p + "out_proj.weight": rnd(g, d, E)})


def mamba2_bf16(seed=32):
    g = seeded(seed)
    c = {"architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": 32, "expand": 2,
         "num_heads": 8, "head_dim": 8, "n_groups": 2, "state_size": 12, "conv_kernel": 4, "num_hidden_layers": 2,
         "vocab_size": 64, "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True, "hidden_act": "silu",
         "chunk_size": 256, "residual_in_fp32": True, "rms_norm": True, "tie_word_embeddings": False,
         "time_step_limit": [0.0, float("inf")], "torch_dtype": "bfloat16"}
    d, V = c["hidden_size"], c["vocab_size"]
    w = {"backbone.embeddings.weight": rnd(g, V, d, scale=0.5), "backbone.norm_f.weight": rnd(g, d, offset=1.0),
         "lm_head.weight": rnd(g, V, d)}
    for i in range(c["num_hidden_layers"]):
        w[f"backbone.layers.{i}.norm.weight"] = rnd(g, d, offset=1.0)
        mamba2_layer_weights(g, w, f"backbone.layers.{i}.mixer.", d, c["num_heads"], c["head_dim"], c["n_groups"],
                             c["state_size"], c["conv_kernel"])
    w = rounded(w, torch.bfloat16)
    ids = torch.randint(0, V, (10,), generator=g)
    logits = ssm_lm(c, w, ids, mamba2_mixer)
    generated = greedy(lambda t: ssm_lm(c, w, t, mamba2_mixer), ids)
    save("mamba2_bf16", c, w, {"input_ids": ids, "expected_logits": logits, "greedy_ids": generated},
         dtype=torch.bfloat16)


# ----------------------------------------------------------------------------------------------------------- Bamba


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def bamba_attention(h, w, p, c):
    """BambaAttention: Llama attention (GQA, 1/sqrt(head_dim)) with rotary on the first rotary_dim = head_dim ·
    partial_rotary_factor (0.5, hard-coded by BambaConfig) dims of each head, rotate_half within them."""
    T = h.shape[0]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    D = c["hidden_size"] // H
    R = int(D * 0.5)
    q = (h @ w[p + "q_proj.weight"].T).view(T, H, D).transpose(0, 1)
    k = (h @ w[p + "k_proj.weight"].T).view(T, KV, D).transpose(0, 1)
    v = (h @ w[p + "v_proj.weight"].T).view(T, KV, D).transpose(0, 1)
    inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, R, 2, dtype=torch.int64).float() / R))
    freqs = torch.arange(T).float()[:, None] * inv_freq[None]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rope(x):
        rot = x[..., :R] * cos + rotate_half(x[..., :R]) * sin
        return torch.cat([rot, x[..., R:]], dim=-1)

    q, k = rope(q), rope(k)
    k, v = k.repeat_interleave(H // KV, dim=0), v.repeat_interleave(H // KV, dim=0)
    scores = q @ k.transpose(1, 2) * D ** -0.5 + torch.full((T, T), float("-inf")).triu(1)
    o = (F.softmax(scores.float(), dim=-1) @ v).transpose(0, 1).reshape(T, H * D)
    return o @ w[p + "o_proj.weight"].T


def bamba_forward(c, w, ids):
    """BambaModel + BambaForCausalLM: each BambaDecoderLayer is x + mixer(input_layernorm(x)) with the mixer chosen
    by layers_block_type (attention at attn_layer_indices, mamba elsewhere), then x + SwiGLU(pre_ff_layernorm(x));
    final_layernorm; lm_head."""
    eps = c["rms_norm_eps"]
    m = {"num_heads": c["mamba_n_heads"], "head_dim": c["mamba_d_head"], "n_groups": c["mamba_n_groups"],
         "state_size": c["mamba_d_state"], "layer_norm_epsilon": eps}
    x = w["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        if i in c["attn_layer_indices"]:
            x = x + bamba_attention(h, w, p + "self_attn.", c)
        else:
            x = x + mamba2_mixer(h, w, p + "mamba.", m)
        h = rms_norm(x, w[p + "pre_ff_layernorm.weight"], eps)
        f = p + "feed_forward."
        x = x + (F.silu(h @ w[f + "gate_proj.weight"].T) * (h @ w[f + "up_proj.weight"].T)) @ w[f + "down_proj.weight"].T
    x = rms_norm(x, w["model.final_layernorm.weight"], eps)
    return x @ w["lm_head.weight"].T


def bamba(seed=33):
    g = seeded(seed)
    c = {"architectures": ["BambaForCausalLM"], "model_type": "bamba", "hidden_size": 32, "intermediate_size": 40,
         "num_hidden_layers": 6, "num_attention_heads": 4, "num_key_value_heads": 2, "attn_layer_indices": [1, 4],
         "mamba_n_heads": 8, "mamba_d_head": 8, "mamba_n_groups": 2, "mamba_d_state": 12, "mamba_d_conv": 4,
         "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True, "mamba_proj_bias": False,
         "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "attn_rotary_emb": 4,
         "max_position_embeddings": 64, "vocab_size": 64, "tie_word_embeddings": False, "torch_dtype": "float32"}
    d, V, ff = c["hidden_size"], c["vocab_size"], c["intermediate_size"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    D = d // H
    w = {"model.embed_tokens.weight": rnd(g, V, d, scale=0.5), "model.final_layernorm.weight": rnd(g, d, offset=1.0),
         "lm_head.weight": rnd(g, V, d)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = rnd(g, d, offset=1.0)
        w[p + "pre_ff_layernorm.weight"] = rnd(g, d, offset=1.0)
        if i in c["attn_layer_indices"]:
            w.update({p + "self_attn.q_proj.weight": rnd(g, H * D, d), p + "self_attn.k_proj.weight": rnd(g, KV * D, d),
                      p + "self_attn.v_proj.weight": rnd(g, KV * D, d), p + "self_attn.o_proj.weight": rnd(g, d, H * D)})
        else:
            mamba2_layer_weights(g, w, p + "mamba.", d, c["mamba_n_heads"], c["mamba_d_head"], c["mamba_n_groups"],
                                 c["mamba_d_state"], c["mamba_d_conv"])
        w.update({p + "feed_forward.gate_proj.weight": rnd(g, ff, d), p + "feed_forward.up_proj.weight": rnd(g, ff, d),
                  p + "feed_forward.down_proj.weight": rnd(g, d, ff)})
    ids = torch.randint(0, V, (11,), generator=g)
    logits = bamba_forward(c, w, ids)
    generated = greedy(lambda t: bamba_forward(c, w, t), ids)
    save("bamba", c, w, {"input_ids": ids, "expected_logits": logits, "greedy_ids": generated})


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    bert()
    bert_cls()
    t5("t5_v10", seed=23)
    t5("t5_v11", seed=24, feed_forward_proj="gated-gelu", tie_word_embeddings=False, num_layers=3,
       num_decoder_layers=2)
    mamba()
    mamba2_bf16()
    bamba()
