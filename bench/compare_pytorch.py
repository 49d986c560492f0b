#!/usr/bin/python3
"""lamina against PyTorch eager on the same models, weights and thread count.

lamina_bench_models --export_weights writes each benchmark model's RandomSource weights (f32, lamina names) and config;
this script runs them in PyTorch eager — plain tensor code following transformers' eager modelling (GPT-2, Llama,
BERT, T5, Mamba's slow path), torch.inference_mode, a preallocated KV cache — then runs the matching lamina
benchmarks and prints both with the ratios. Run with Debian's /usr/bin/python3:

    bench/compare_pytorch.py --lamina build/bench/lamina_bench_models [--models gpt2,llama_0.5b] [--threads 1,2]
                             [--contexts 128,2048] [--out bench/results/compare_pytorch.json]

Both sides are timed in CPU seconds per thread (medians), since the machine is shared.
PyTorch reads OPENBLAS_CORETYPE and OMP_WAIT_POLICY when it loads: without SkylakeX, Debian's OpenBLAS misdetects
this CPU and is several times slower, and without PASSIVE, idle OpenMP threads spin against the other process. The
script re-executes itself with both set.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ENV = {"OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE"}
if any(os.environ.get(k) != v for k, v in ENV.items()):
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **ENV})

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MODELS = ["gpt2", "llama_0.5b", "bert_base", "t5_small", "mamba_130m"]
PROMPTS = [128, 512]
T5_SOURCE = 128  # as kSource in models_bench.cpp


def load_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        b, e = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).copy()).reshape(t["shape"])
    return out


# ---------------------------------------------------------------------------------------------- shared pieces


def layer_norm(x, w, p, eps):
    return F.layer_norm(x, x.shape[-1:], w[p + ".weight"], w[p + ".bias"], eps)


def rms_norm(x, w, p, eps):
    """LlamaRMSNorm / T5LayerNorm: scale only."""
    return w[p + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def linear(x, w, p):
    return F.linear(x, w[p + ".weight"], w.get(p + ".bias"))


class KvCache:
    """Preallocated per-layer K/V [heads, capacity, head_dim]; `size` tokens are valid."""

    def __init__(self, layers, heads, head_dim, capacity):
        self.k = torch.zeros(layers, heads, capacity, head_dim)
        self.v = torch.zeros(layers, heads, capacity, head_dim)
        self.size = 0

    def append(self, layer, k, v):
        T = k.shape[1]
        self.k[layer, :, self.size:self.size + T] = k
        self.v[layer, :, self.size:self.size + T] = v
        return self.k[layer, :, :self.size + T], self.v[layer, :, :self.size + T]


def attend(q, k, v, scale, bias=None, causal=False):
    """Eager attention as transformers writes it: q [H, T, d], k/v [Hkv, S, d]; GQA by repeat_kv."""
    if k.shape[0] != q.shape[0]:
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)
        v = v.repeat_interleave(q.shape[0] // v.shape[0], dim=0)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        s = s + bias
    if causal and q.shape[1] > 1:
        T, S = q.shape[1], k.shape[1]
        s = s.masked_fill(torch.ones(T, S, dtype=torch.bool).triu(S - T + 1), float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def heads(x, n, d):
    return x.view(x.shape[0], n, d).transpose(0, 1)


def merge(x):
    return x.transpose(0, 1).reshape(x.shape[1], -1)


# ---------------------------------------------------------------------------------------------- models


class Reference:
    """A model's PyTorch forward over its config c and lamina-named weights w."""

    def __init__(self, c, w):
        self.c, self.w = c, w


class KvDecoder(Reference):
    """A decoder-only transformer whose per-sequence state is its KV cache."""

    def state(self):
        c = self.c
        return KvCache(c["n_layers"], c["n_kv_heads"], c["head_dim"], c["max_positions"])


class Gpt2(KvDecoder):
    def forward(self, ids, cache):
        c, w = self.c, self.w
        H, D = c["n_heads"], c["head_dim"]
        pos = torch.arange(cache.size, cache.size + len(ids))
        h = w["embed.tokens"][ids] + w["embed.positions"][pos]
        for i in range(c["n_layers"]):
            p = f"layers.{i}."
            a = layer_norm(h, w, p + "mixer_norm", c["norm_eps"])
            q, k, v = (heads(linear(a, w, p + "mixer." + n), H, D) for n in "qkv")
            k, v = cache.append(i, k, v)
            h = h + linear(merge(attend(q, k, v, 1 / math.sqrt(D), causal=True)), w, p + "mixer.o")
            a = layer_norm(h, w, p + "ffn_norm", c["norm_eps"])
            h = h + linear(F.gelu(linear(a, w, p + "ffn.up"), approximate="tanh"), w, p + "ffn.down")
        cache.size += len(ids)
        return F.linear(layer_norm(h[-1:], w, "final_norm", c["norm_eps"]), w["embed.tokens"])


def rope(x, pos, theta):
    """Llama's rotate-half RoPE on [H, T, d]."""
    d = x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = pos[:, None].float() * inv[None]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    rot = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return x * cos + rot * sin


class Llama(KvDecoder):
    def forward(self, ids, cache):
        c, w = self.c, self.w
        H, Hkv, D, eps = c["n_heads"], c["n_kv_heads"], c["head_dim"], c["norm_eps"]
        pos = torch.arange(cache.size, cache.size + len(ids))
        h = w["embed.tokens"][ids]
        for i in range(c["n_layers"]):
            p = f"layers.{i}."
            a = rms_norm(h, w, p + "mixer_norm", eps)
            q = rope(heads(linear(a, w, p + "mixer.q"), H, D), pos, c["rope_theta"])
            k = rope(heads(linear(a, w, p + "mixer.k"), Hkv, D), pos, c["rope_theta"])
            v = heads(linear(a, w, p + "mixer.v"), Hkv, D)
            k, v = cache.append(i, k, v)
            h = h + linear(merge(attend(q, k, v, 1 / math.sqrt(D), causal=True)), w, p + "mixer.o")
            a = rms_norm(h, w, p + "ffn_norm", eps)
            h = h + linear(F.silu(linear(a, w, p + "ffn.gate")) * linear(a, w, p + "ffn.up"), w, p + "ffn.down")
        cache.size += len(ids)
        return linear(rms_norm(h[-1:], w, "final_norm", eps), w, "lm_head")


class Bert(Reference):
    def state(self):
        return None

    def forward(self, ids, _):
        c, w = self.c, self.w
        H, D, eps = c["n_heads"], c["head_dim"], c["norm_eps"]
        T = len(ids)
        h = w["embed.tokens"][ids] + w["embed.positions"][:T] + w["embed.types"][0]
        h = layer_norm(h, w, "embed.norm", eps)
        for i in range(c["n_layers"]):
            p = f"layers.{i}."
            q, k, v = (heads(linear(h, w, p + "mixer." + n), H, D) for n in "qkv")
            h = layer_norm(h + linear(merge(attend(q, k, v, 1 / math.sqrt(D))), w, p + "mixer.o"), w,
                           p + "mixer_norm", eps)
            f = linear(F.gelu(linear(h, w, p + "ffn.up")), w, p + "ffn.down")
            h = layer_norm(h + f, w, p + "ffn_norm", eps)
        return h


def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    """T5Attention._relative_position_bucket."""
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).long() * num_buckets
        rel = rel.abs()
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    exact = num_buckets // 2
    large = exact + (torch.log(rel.float() / exact) / math.log(max_distance / exact) * (num_buckets - exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(rel < exact, rel, large)


class T5(Reference):
    """T5 v1.0 (ReLU MLP, tied head scaled by d_model^-0.5): encode once, then decode through the self-attention
    cache and the cross K/V computed once from the memory."""

    def bias(self, table, q0, T, S, bidirectional):
        rel = torch.arange(S)[None] - torch.arange(q0, q0 + T)[:, None]
        b = t5_bucket(rel, bidirectional, self.c["relative_buckets"], self.c["relative_max_distance"])
        return table[b].permute(2, 0, 1)

    def state(self):
        c = self.c
        return {"self": KvCache(c["n_decoder_layers"], c["n_heads"], c["head_dim"], c["max_positions"]), "cross": []}

    def encode(self, src, st):
        c, w = self.c, self.w
        H, D, eps = c["n_heads"], c["head_dim"], c["norm_eps"]
        S = len(src)
        h = w["embed.tokens"][src]
        bias = self.bias(w["encoder.relative_bias"], 0, S, S, True)
        for i in range(c["n_layers"]):
            p = f"encoder.layers.{i}."
            a = rms_norm(h, w, p + "mixer_norm", eps)
            q, k, v = (heads(linear(a, w, p + "mixer." + n), H, D) for n in "qkv")
            h = h + linear(merge(attend(q, k, v, 1.0, bias)), w, p + "mixer.o")
            a = rms_norm(h, w, p + "ffn_norm", eps)
            h = h + linear(F.relu(linear(a, w, p + "ffn.up")), w, p + "ffn.down")
        memory = rms_norm(h, w, "encoder.final_norm", eps)
        st["cross"] = [(heads(linear(memory, w, f"decoder.layers.{i}.cross_attn.k"), H, D),
                        heads(linear(memory, w, f"decoder.layers.{i}.cross_attn.v"), H, D))
                       for i in range(c["n_decoder_layers"])]
        st["self"].size = 0

    def forward(self, ids, st):
        c, w = self.c, self.w
        H, D, eps = c["n_heads"], c["head_dim"], c["norm_eps"]
        cache = st["self"]
        T, q0 = len(ids), cache.size
        h = w["embed.tokens"][ids]
        bias = self.bias(w["decoder.relative_bias"], q0, T, q0 + T, False)
        for i in range(c["n_decoder_layers"]):
            p = f"decoder.layers.{i}."
            a = rms_norm(h, w, p + "self_norm", eps)
            q, k, v = (heads(linear(a, w, p + "self_attn." + n), H, D) for n in "qkv")
            k, v = cache.append(i, k, v)
            h = h + linear(merge(attend(q, k, v, 1.0, bias, causal=True)), w, p + "self_attn.o")
            a = rms_norm(h, w, p + "cross_norm", eps)
            q = heads(linear(a, w, p + "cross_attn.q"), H, D)
            h = h + linear(merge(attend(q, *st["cross"][i], 1.0)), w, p + "cross_attn.o")
            a = rms_norm(h, w, p + "ffn_norm", eps)
            h = h + linear(F.relu(linear(a, w, p + "ffn.up")), w, p + "ffn.down")
        cache.size += T
        out = rms_norm(h[-1:], w, "decoder.final_norm", eps) * c["d_model"] ** -0.5
        return F.linear(out, w["embed.tokens"])


class Mamba(Reference):
    """MambaMixer.slow_forward (transformers' path without the CUDA kernels): a sequential scan over the prompt,
    then one recurrent step per token with the conv and SSM states."""

    def state(self):
        c = self.c
        E = c["ssm_expand"] * c["d_model"]
        return {"conv": torch.zeros(c["n_layers"], E, c["ssm_conv"]), "ssm": torch.zeros(c["n_layers"], E, c["ssm_state"])}

    def mixer(self, h, i, st):
        c, w = self.c, self.w
        p = f"layers.{i}.mixer."
        E, N, R, K = c["ssm_expand"] * c["d_model"], c["ssm_state"], c["ssm_dt_rank"], c["ssm_conv"]
        T = h.shape[0]
        xz = F.linear(h, w[p + "in_proj.weight"])
        x, z = xz[:, :E].T, xz[:, E:]
        conv_in = torch.cat([st["conv"][i, :, 1:], x], dim=1)  # [E, K-1+T]
        st["conv"][i] = conv_in[:, -K:]
        x = F.conv1d(conv_in[None], w[p + "conv.weight"][:, None, :], w[p + "conv.bias"], groups=E)[0]
        x = F.silu(x).T  # [T, E]
        dt, B, C = torch.split(F.linear(x, w[p + "x_proj.weight"]), [R, N, N], dim=-1)
        dt = F.softplus(linear(dt, w, p + "dt_proj"))
        A = -torch.exp(w[p + "A_log"])
        dA = torch.exp(A[None] * dt[:, :, None])  # [T, E, N]
        dBx = dt[:, :, None] * B[:, None, :] * x[:, :, None]
        s = st["ssm"][i]
        ys = []
        for t in range(T):
            s = dA[t] * s + dBx[t]
            ys.append(s @ C[t])
        st["ssm"][i] = s
        y = (torch.stack(ys) + x * w[p + "D"]) * F.silu(z)
        return F.linear(y, w[p + "out_proj.weight"])

    def forward(self, ids, st):
        c, w = self.c, self.w
        h = w["embed.tokens"][ids]
        for i in range(c["n_layers"]):
            h = h + self.mixer(rms_norm(h, w, f"layers.{i}.mixer_norm", c["norm_eps"]), i, st)
        return F.linear(rms_norm(h[-1:], w, "final_norm", c["norm_eps"]), w["embed.tokens"])


ARCHS = {"gpt2": Gpt2, "llama_0.5b": Llama, "bert_base": Bert, "t5_small": T5, "mamba_130m": Mamba}


# ---------------------------------------------------------------------------------------------- timing


def token_ids(n, vocab, seed):
    """The same ids as token_ids() in models_bench.cpp (an LCG), so both sides see the same prompts."""
    out = []
    for _ in range(n):
        seed = (seed * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append((seed >> 8) % vocab)
    return torch.tensor(out, dtype=torch.long)


def cpu_seconds(fn):
    """Process CPU seconds per thread of fn(): on a shared machine the wall time mostly measures the other
    processes; lamina_bench_models reports the same measure (its tokens_per_s counters)."""
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / torch.get_num_threads()


def median_time(fn, reps):
    return sorted(cpu_seconds(fn) for _ in range(reps))[reps // 2]


def prompt(m, name, ids, st):
    """From an empty state to the first output: an encoder pass, or a prefill (T5: encode + first target token)."""
    if name == "t5_small":
        m.encode(ids, st)
        return m.forward(ids[:1], st)
    if isinstance(st, KvCache):
        st.size = 0
    elif isinstance(st, dict) and "conv" in st:
        st["conv"].zero_(), st["ssm"].zero_()
    return m.forward(ids, st)


def torch_figures(name, c, w, contexts, steps=8):
    m = ARCHS[name](c, w)
    out = {}
    with torch.inference_mode():
        for T in PROMPTS:
            ids = token_ids(T, c["vocab_size"], 11)
            st = m.state()
            prompt(m, name, ids, st)  # warm-up
            s = median_time(lambda: prompt(m, name, ids, st), 3 if T == 128 else 2)
            out[f"prefill/prompt:{T}"] = T / s
        if name == "bert_base":
            return out
        for C in contexts:
            st = m.state()
            ids = token_ids(C, c["vocab_size"], 7)
            if name == "t5_small":
                prompt(m, name, token_ids(T5_SOURCE, c["vocab_size"], 3), st)
                for t in range(1, C, 512):
                    m.forward(ids[t:min(C, t + 512)], st)
            else:
                for t in range(0, C, 512):
                    m.forward(ids[t:min(C, t + 512)], st)
            step_ids = token_ids(steps + 1, c["vocab_size"], 13)
            m.forward(step_ids[:1], st)  # warm-up step
            times = [cpu_seconds(lambda: m.forward(step_ids[i:i + 1], st)) for i in range(1, steps + 1)]
            out[f"decode/ctx:{C}"] = 1 / sorted(times)[len(times) // 2]
    return out


def lamina_figures(binary, name, threads, contexts, json_in):
    """tokens/s of the matching lamina benchmarks (f32), from a results file or a fresh run."""
    if json_in:
        with open(json_in) as f:
            runs = json.load(f)["benchmarks"]
    else:
        ctx = "|".join(str(c) for c in contexts)
        filt = f"BM_(prefill|decode)/{name}/f32/(prompt:(128|512)|ctx:({ctx}))/threads:{threads}/"
        res = subprocess.run([binary, f"--benchmark_filter={filt}", "--benchmark_format=json"], check=True,
                             capture_output=True, text=True)
        runs = json.loads(res.stdout)["benchmarks"]
    out = {}
    for r in runs:
        parts = r["name"].split("/")
        if len(parts) < 5 or parts[1] != name or parts[2] != "f32" or parts[4] != f"threads:{threads}":
            continue
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        out[f"{parts[0][3:]}/{parts[3]}"] = r["tokens_per_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lamina", default="build/bench/lamina_bench_models")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--contexts", default="128")
    ap.add_argument("--weights", default="/tmp/lamina_bench_weights", help="where exported weights are kept")
    ap.add_argument("--lamina-json", help="read lamina's figures from this benchmark JSON instead of running it")
    ap.add_argument("--out", help="write the table as JSON here")
    a = ap.parse_args()
    contexts = [int(x) for x in a.contexts.split(",")]
    os.makedirs(a.weights, exist_ok=True)
    rows = []
    print(f"{'model':<12} {'figure':<16} {'thr':>3} {'pytorch tok/s':>14} {'lamina tok/s':>13} {'ratio':>6}")
    for name in a.models.split(","):
        path = os.path.join(a.weights, name)
        if not os.path.exists(path + ".safetensors"):
            subprocess.run([a.lamina, f"--export_weights={a.weights}", f"--export_models={name}"], check=True)
        with open(path + ".json") as f:
            c = json.load(f)
        w = load_safetensors(path + ".safetensors")
        for threads in [int(t) for t in a.threads.split(",")]:
            torch.set_num_threads(threads)
            tf = torch_figures(name, c, w, contexts)
            lf = lamina_figures(a.lamina, name, threads, contexts, a.lamina_json)
            for fig, pt in tf.items():
                lam = lf.get(fig)
                ratio = lam / pt if lam else float("nan")
                rows.append({"model": name, "figure": fig, "threads": threads, "pytorch_tokens_per_s": pt,
                             "lamina_tokens_per_s": lam, "ratio": ratio})
                print(f"{name:<12} {fig:<16} {threads:>3} {pt:>14.1f} {lam or float('nan'):>13.1f} {ratio:>6.2f}",
                      flush=True)
        del w
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"note": "f32 weights; tokens/s; ratio = lamina / PyTorch eager, same machine and threads",
                       "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
