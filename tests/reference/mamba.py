"""Golden outputs for whole Mamba models built from lamina's primitives:
DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba | Mamba2, NoFfn>>, RmsNorm>.

mamba1: plain tensor code following transformers' modeling_mamba.py MambaMixer.slow_forward (no cache): in_proj
split into hidden states and gate, causal depthwise Conv1d(padding=d_conv-1)[..., :T] + SiLU, x_proj split into
(dt, B, C), softplus(dt_proj(dt)), discrete A = exp(A·dt), dB·u = dt·B·u, the sequential scan, + D·u, · silu(gate),
out_proj. Sizes are chosen so d_inner (72) and d_state (6) are not multiples of any SIMD width.
mamba2: following modeling_mamba2.py Mamba2Mixer.torch_forward (no cache): in_proj split into (gate, xBC, dt),
conv + SiLU over xBC, the chunked SSD algorithm with a chunk size that does not divide the sequence (so the padding
path runs), MambaRMSNormGated (norm of y·silu(gate) over all of d_inner), out_proj. The chunked result is checked
against the plain recurrence before it is saved.
Blocks are MambaBlock: x + mixer(MambaRMSNorm(x)); the model ends with norm_f and an untied LM head. Tensors are
saved under lamina's own weight paths (Conv1d weights squeezed to [channels, d_conv]), with input ids and the
expected logits."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import save_safetensors, seeded  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures")


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def causal_conv(x, w, b):
    """x [T, C], w [C, K]: depthwise nn.Conv1d(groups=C, padding=K-1) truncated to the first T outputs."""
    T, C = x.shape
    K = w.shape[1]
    y = F.conv1d(x.T[None], w[:, None, :], b, padding=K - 1, groups=C)[0, :, :T]
    return y.T


def dt_bias_init(n, g, lo=0.001, hi=0.1):
    """HF's dt init: dt log-uniform in [time_step_min, time_step_max], stored as its softplus inverse."""
    dt = torch.exp(torch.rand(n, generator=g) * (math.log(hi) - math.log(lo)) + math.log(lo))
    return dt + torch.log(-torch.expm1(-dt))


# ---------------------------------------------------------------------------------------------------- Mamba-1


def mamba1_mixer(h, w, p, c):
    T = h.shape[0]
    E, N = c["ssm_expand"] * c["d_model"], c["ssm_state"]
    R = c["ssm_dt_rank"] or math.ceil(c["d_model"] / 16)
    projected = h @ w[p + "in_proj.weight"].T
    hidden, gate = projected[:, :E], projected[:, E:]
    hidden = F.silu(causal_conv(hidden, w[p + "conv.weight"], w[p + "conv.bias"]))
    time_step, B, C = torch.split(hidden @ w[p + "x_proj.weight"].T, [R, N, N], dim=-1)
    dt = F.softplus(time_step @ w[p + "dt_proj.weight"].T + w[p + "dt_proj.bias"])  # [T, E]
    A = -torch.exp(w[p + "A_log"])  # [E, N]
    discrete_A = torch.exp(A[None] * dt[:, :, None])  # [T, E, N]
    deltaB_u = dt[:, :, None] * B[:, None, :] * hidden[:, :, None]
    state = torch.zeros(E, N)
    ys = []
    for t in range(T):
        state = discrete_A[t] * state + deltaB_u[t]
        ys.append(state @ C[t])
    y = torch.stack(ys) + hidden * w[p + "D"]
    y = y * F.silu(gate)
    return y @ w[p + "out_proj.weight"].T


def mamba1(seed=11):
    g = seeded(seed)
    c = dict(d_model=36, n_layers=2, vocab_size=60, max_positions=64, norm_eps=1e-5,
             ssm_state=6, ssm_conv=4, ssm_expand=2, ssm_dt_rank=0)
    d, V, E, N, K = c["d_model"], c["vocab_size"], 2 * c["d_model"], c["ssm_state"], c["ssm_conv"]
    R = math.ceil(d / 16)
    r = lambda *s, scale=0.2: torch.randn(*s, generator=g) * scale  # noqa: E731
    w = {"embed.tokens": r(V, d, scale=0.5), "final_norm.weight": 1 + r(d), "lm_head.weight": r(V, d)}
    for i in range(c["n_layers"]):
        p = f"layers.{i}.mixer."
        A = torch.arange(1, N + 1, dtype=torch.float32)[None].expand(E, N)
        w.update({f"layers.{i}.mixer_norm.weight": 1 + r(d),
                  p + "in_proj.weight": r(2 * E, d), p + "conv.weight": r(E, K, scale=0.4), p + "conv.bias": r(E),
                  p + "x_proj.weight": r(R + 2 * N, E), p + "dt_proj.weight": r(E, R, scale=0.5),
                  p + "dt_proj.bias": dt_bias_init(E, g) + r(E),
                  p + "A_log": torch.log(A) + r(E, N, scale=0.1), p + "D": 1 + r(E), p + "out_proj.weight": r(d, E)})
    ids = torch.randint(0, V, (12,), generator=g)
    x = w["embed.tokens"][ids]
    for i in range(c["n_layers"]):
        x = x + mamba1_mixer(rms_norm(x, w[f"layers.{i}.mixer_norm.weight"], c["norm_eps"]), w, f"layers.{i}.mixer.", c)
    logits = rms_norm(x, w["final_norm.weight"], c["norm_eps"]) @ w["lm_head.weight"].T
    save(c, w, ids, logits, "mamba1")


# ---------------------------------------------------------------------------------------------------- Mamba-2


def segment_sum(a):
    """[..., L] -> [..., L, L]: out[i, j] = a[j+1] + … + a[i] below the diagonal, 0 on it, -inf above."""
    L = a.shape[-1]
    a = a[..., None].expand(*a.shape, L)
    a = a.masked_fill(~torch.tril(torch.ones(L, L, dtype=torch.bool), diagonal=-1), 0)
    s = torch.cumsum(a, dim=-2)
    return s.masked_fill(~torch.tril(torch.ones(L, L, dtype=torch.bool), diagonal=0), -torch.inf)


def ssd_chunked(x, dt, A, B, C, chunk):
    """torch_forward's naive SSD without a batch dim. x [T, H, P], dt [T, H] (after softplus), A [H],
    B, C [T, H, N] (already repeated per head). Returns y [T, H, P] (without D) and the final state [H, P, N]."""
    T = x.shape[0]
    pad = (chunk - T % chunk) % chunk
    x = x * dt[..., None]
    A = A * dt
    chunks = lambda t: F.pad(t, (0, 0) * (t.dim() - 1) + (0, pad)).reshape(-1, chunk, *t.shape[1:])  # noqa: E731
    x, A, B, C = chunks(x), chunks(A), chunks(B), chunks(C)  # [c, l, ...]
    A = A.permute(2, 0, 1)  # [H, c, l]
    A_cumsum = torch.cumsum(A, dim=-1)
    # 1. intra-chunk (diagonal blocks)
    L = torch.exp(segment_sum(A))  # [H, c, l, s]
    G = torch.einsum("clhn,cshn->clsh", C, B)
    M = G * L.permute(1, 2, 3, 0)
    Y_diag = torch.einsum("clsh,cshp->clhp", M, x)
    # 2. state at the end of each chunk from its own inputs
    decay_states = torch.exp(A_cumsum[:, :, -1:] - A_cumsum)  # [H, c, l]
    states = torch.einsum("clhn,hcl,clhp->chpn", B, decay_states, x)
    # 3. inter-chunk recurrence
    states = torch.cat([torch.zeros_like(states[:1]), states], dim=0)
    decay_chunk = torch.exp(segment_sum(F.pad(A_cumsum[:, :, -1], (1, 0))))  # [H, c+1, c+1]
    new_states = torch.einsum("hzc,chpn->zhpn", decay_chunk, states)
    states, final = new_states[:-1], new_states[-1]
    # 4. state -> output
    Y_off = torch.einsum("clhn,chpn,hcl->clhp", C, states, torch.exp(A_cumsum))
    y = (Y_diag + Y_off).reshape(-1, *x.shape[2:])[:T]
    return y, final


def ssd_sequential(x, dt, A, B, C):
    H, P, N = x.shape[1], x.shape[2], B.shape[2]
    state = torch.zeros(H, P, N)
    ys = []
    for t in range(x.shape[0]):
        dA = torch.exp(dt[t] * A)[:, None, None]
        state = dA * state + (dt[t][:, None, None] * B[t][:, None, :]) * x[t][:, :, None]
        ys.append(torch.einsum("hpn,hn->hp", state, C[t]))
    return torch.stack(ys), state


def mamba2_mixer(h, w, p, c):
    T = h.shape[0]
    E, N, G, P = c["ssm_expand"] * c["d_model"], c["ssm_state"], c["ssm_groups"], c["ssm_head_dim"]
    H, CD = E // P, E + 2 * G * N
    gate, xBC, dt = torch.split(h @ w[p + "in_proj.weight"].T, [E, CD, H], dim=-1)
    xBC = F.silu(causal_conv(xBC, w[p + "conv.weight"], w[p + "conv.bias"]))
    x, B, C = torch.split(xBC, [E, G * N, G * N], dim=-1)
    A = -torch.exp(w[p + "A_log"])
    dt = F.softplus(dt + w[p + "dt_bias"])
    x = x.reshape(T, H, P)
    B = B.reshape(T, G, N).repeat_interleave(H // G, dim=1)
    C = C.reshape(T, G, N).repeat_interleave(H // G, dim=1)
    y, final = ssd_chunked(x, dt, A, B, C, c["chunk"])
    y_seq, final_seq = ssd_sequential(x, dt, A, B, C)
    assert torch.allclose(y, y_seq, atol=1e-5, rtol=1e-4) and torch.allclose(final, final_seq, atol=1e-5, rtol=1e-4)
    y = (y + x * w[p + "D"][:, None]).reshape(T, E)
    y = y * F.silu(gate)  # MambaRMSNormGated: gate, then normalise over all of d_inner
    y = rms_norm(y, w[p + "norm.weight"], c["norm_eps"])
    return y @ w[p + "out_proj.weight"].T


def mamba2(seed=12):
    g = seeded(seed)
    c = dict(d_model=32, n_layers=2, vocab_size=60, max_positions=64, norm_eps=1e-5,
             ssm_state=20, ssm_conv=4, ssm_expand=2, ssm_head_dim=8, ssm_groups=2)
    chunk = 5  # the reference's SSD chunk (HF chunk_size); 57 tokens are 11 chunks and a padded 12th, and in lamina
    # two 24-token chunks and a partial third of its chunked scan
    d, V, N, K, G = c["d_model"], c["vocab_size"], c["ssm_state"], c["ssm_conv"], c["ssm_groups"]
    E = 2 * d
    H, CD = E // c["ssm_head_dim"], E + 2 * G * N
    r = lambda *s, scale=0.2: torch.randn(*s, generator=g) * scale  # noqa: E731
    w = {"embed.tokens": r(V, d, scale=0.5), "final_norm.weight": 1 + r(d), "lm_head.weight": r(V, d)}
    for i in range(c["n_layers"]):
        p = f"layers.{i}.mixer."
        w.update({f"layers.{i}.mixer_norm.weight": 1 + r(d),
                  p + "in_proj.weight": r(E + CD + H, d), p + "conv.weight": r(CD, K, scale=0.4), p + "conv.bias": r(CD),
                  p + "dt_bias": dt_bias_init(H, g) + r(H),
                  p + "A_log": torch.log(torch.arange(1, H + 1, dtype=torch.float32)) + r(H, scale=0.1),
                  p + "D": 1 + r(H), p + "norm.weight": 1 + r(E), p + "out_proj.weight": r(d, E)})
    ids = torch.randint(0, V, (57,), generator=g)
    x = w["embed.tokens"][ids]
    for i in range(c["n_layers"]):
        x = x + mamba2_mixer(rms_norm(x, w[f"layers.{i}.mixer_norm.weight"], c["norm_eps"]), w, f"layers.{i}.mixer.",
                             dict(c, chunk=chunk))
    logits = rms_norm(x, w["final_norm.weight"], c["norm_eps"]) @ w["lm_head.weight"].T
    save(c, w, ids, logits, "mamba2")


def save(config, weights, ids, logits, name):
    tensors = {k: v.detach().float().contiguous() for k, v in weights.items()}
    tensors["input_ids"] = ids.to(torch.int64)
    tensors["expected_logits"] = logits.detach().float()
    path = os.path.join(OUT, name + ".safetensors")
    save_safetensors(path, tensors, {"config": json.dumps(config)})
    print(f"{name}: {len(weights)} weights, logits {tuple(logits.shape)}, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    mamba1()
    mamba2()
