"""PyTorch definitions of the toy models, written to follow Hugging Face transformers' modelling code so that each
module's state_dict() has exactly the hub's tensor names and each config dict has the hub's config.json keys:
LlamaForCausalLM (modeling_llama.py), T5ForConditionalGeneration (modeling_t5.py), BertForSequenceClassification
(modeling_bert.py), MambaForCausalLM (modeling_mamba.py, the sequential-scan slow path) and BambaForCausalLM
(modeling_bamba.py, Mamba-2 mixer as a sequential scan). Inference-only features (caches, dropout at eval, padding
paths of the CUDA kernels) are left out; training uses no dropout."""
import ctypes
import functools
import math
import os
import subprocess
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F


def init_weights(module, std):
    """HF's _init_weights for Linear / Embedding: normal(0, std), zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, std)


def tied_state_dict(model, tied=("lm_head.weight",)):
    """state_dict() without the tied copies, as save_pretrained writes safetensors (the loader re-ties them)."""
    return {k: v for k, v in model.state_dict().items() if k not in tied}


class RMSNorm(nn.Module):
    """LlamaRMSNorm / MambaRMSNorm / BambaRMSNorm: weight * x / sqrt(mean(x^2) + eps), computed in f32."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


# ---- Llama ---------------------------------------------------------------------------------------------------------

def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(rotary_dim, theta, positions):
    """LlamaRotaryEmbedding (default rope type): cos/sin of cat(freqs, freqs), [T, rotary_dim]."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.int64).float() / rotary_dim))
    freqs = positions[:, None].float() * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    """x [B, H, T, D]; rotates the first cos.shape[-1] channels (all of them for Llama, a part for Bamba's
    partial_rotary_factor) and passes the rest through, as Bamba's apply_rotary_pos_emb does."""
    r = cos.shape[-1]
    x_rot, x_pass = x[..., :r], x[..., r:]
    return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)


class CausalSelfAttention(nn.Module):
    """LlamaAttention (also BambaAttention): q/k/v/o projections without bias, GQA by repeating KV heads,
    softmax(q k^T / sqrt(head_dim) + causal mask) v."""

    def __init__(self, c):
        super().__init__()
        d, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c.get("head_dim") or d // H
        self.H, self.KV = H, KV
        bias = c.get("attention_bias", False)
        self.q_proj = nn.Linear(d, H * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(d, KV * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d, KV * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(H * self.head_dim, d, bias=bias)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.KV, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.KV, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k = k.repeat_interleave(self.H // self.KV, dim=1)
        v = v.repeat_interleave(self.H // self.KV, dim=1)
        scores = q @ k.transpose(-1, -2) * self.head_dim ** -0.5
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        probs = scores.masked_fill(causal, float("-inf")).softmax(-1)
        return self.o_proj((probs @ v).transpose(1, 2).reshape(B, T, -1))


class GatedMLP(nn.Module):
    """LlamaMLP / BambaMLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, d, intermediate, bias=False):
        super().__init__()
        self.gate_proj = nn.Linear(d, intermediate, bias=bias)
        self.up_proj = nn.Linear(d, intermediate, bias=bias)
        self.down_proj = nn.Linear(intermediate, d, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = CausalSelfAttention(c)
        self.mlp = GatedMLP(c["hidden_size"], c["intermediate_size"], c.get("mlp_bias", False))
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(LlamaDecoderLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        head_dim = c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]
        self.rotary_dim, self.theta = head_dim, c["rope_theta"]

    def forward(self, ids):
        x = self.embed_tokens(ids)
        cos, sin = rope_cos_sin(self.rotary_dim, self.theta, torch.arange(ids.shape[1]))
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class CausalLM(nn.Module):
    """<Arch>ForCausalLM: a backbone under `backbone_name` plus lm_head, tied to the token embedding when the
    config says so."""

    def __init__(self, c, backbone_name, backbone, embedding):
        super().__init__()
        self.backbone_name = backbone_name
        self.add_module(backbone_name, backbone)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        init_weights(self, c["initializer_range"])
        if c["tie_word_embeddings"]:
            self.lm_head.weight = embedding.weight

    def forward(self, ids):
        return self.lm_head(getattr(self, self.backbone_name)(ids))

    @torch.no_grad()
    def greedy(self, ids, n):
        """Greedy continuation (no cache: the whole prefix is rerun each step), returns the n new ids."""
        out = list(ids)
        for _ in range(n):
            out.append(int(self(torch.tensor([out]))[0, -1].argmax()))
        return out[len(ids):]


def llama_for_causal_lm(c):
    backbone = LlamaModel(c)
    return CausalLM(c, "model", backbone, backbone.embed_tokens)


def llama_config(**kw):
    """LlamaConfig's keys (configuration_llama.py), with its defaults where not given."""
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096,
         "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": None,
         "head_dim": None, "hidden_act": "silu", "max_position_embeddings": 2048, "initializer_range": 0.02,
         "rms_norm_eps": 1e-6, "use_cache": True, "pad_token_id": None, "bos_token_id": 1, "eos_token_id": 2,
         "pretraining_tp": 1, "tie_word_embeddings": False, "rope_theta": 10000.0, "rope_scaling": None,
         "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "torch_dtype": "float32"}
    c.update(kw)
    c["num_key_value_heads"] = c["num_key_value_heads"] or c["num_attention_heads"]
    c["head_dim"] = c["head_dim"] or c["hidden_size"] // c["num_attention_heads"]
    return c


# ---- Mamba -------------------------------------------------------------------------------------------------------

def causal_conv1d(conv, x):
    """Depthwise nn.Conv1d(padding=K-1) over x [B, T, C], truncated to the first T outputs (causal), as both mixers'
    slow paths apply it."""
    return conv(x.transpose(1, 2))[..., :x.shape[1]].transpose(1, 2)


class _Shape(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("batch", "T", "K", "P", "N", "NA", "KB")]


@functools.cache
def _scan_library():
    """selective_scan.c, compiled once per process with the system C compiler (AVX2; -ffast-math lets gcc vectorise
    expf through glibc's libmvec)."""
    out = os.path.join(tempfile.mkdtemp(prefix="lamina-train-"), "selective_scan.so")
    subprocess.run(["cc", "-O3", "-march=x86-64-v3", "-ffast-math", "-shared", "-fPIC",
                    os.path.join(os.path.dirname(os.path.abspath(__file__)), "selective_scan.c"), "-o", out, "-lm"],
                   check=True)
    return ctypes.CDLL(out)


def _pointers(*tensors):
    return [ctypes.c_void_p(t.data_ptr()) for t in tensors]


class SelectiveScan(torch.autograd.Function):
    """The selective-scan recurrence of both mixers, y = scan(dt, A, x, B, C) with, per step t,
        h_t = exp(A dt_t) * h_{t-1} + (dt_t x_t) B_t^T   (h_{-1} = 0),   y_t = h_t C_t,
    for states h [batch, K, P, N]: Mamba-1 has K = channels, P = 1 and A [K, N]; Mamba-2 has K = heads, P = head_dim
    and A [K, 1] (one scalar per head). Shapes: dt [b, T, K], x [b, T, K, P], B and C [b, T, K or 1, N].
    It computes what the HF slow paths' sequential loops compute, but as one fused loop in C (selective_scan.c),
    forward and backward: ~20 tensor ops per time step made a whole training step 2.4-2.7x slower, and autograd over
    materialised [b, T, K, P, N] decay and input tensors slower still. check_selective_scan.py tests it."""

    @staticmethod
    def forward(ctx, dt, A, x, B, C):
        dt, A, x, B, C = (v.float().contiguous() for v in (dt, A, x, B, C))
        (b, T, K, P), N = x.shape, B.shape[-1]
        shape = _Shape(b, T, K, P, N, A.shape[-1], B.shape[2])
        y, scratch = x.new_empty(b, T, K, P), x.new_empty(2, N)  # scratch must outlive the call
        _scan_library().scan_forward(ctypes.byref(shape), *_pointers(dt, A, x, B, C, y, scratch[0], scratch[1]))
        ctx.shape = shape
        ctx.save_for_backward(dt, A, x, B, C)
        return y

    @staticmethod
    def backward(ctx, gy):
        dt, A, x, B, C = ctx.saved_tensors
        g_dt, g_A, g_B, g_C = (torch.zeros_like(v) for v in (dt, A, B, C))
        g_x = torch.empty_like(x)
        gy = gy.float().contiguous()
        T, N = x.shape[1], B.shape[-1]
        rows, scratch = x.new_empty(2, T * N), x.new_empty(2, N)  # must outlive the call: ctypes holds raw pointers
        _scan_library().scan_backward(ctypes.byref(ctx.shape), *_pointers(dt, A, x, B, C, gy, g_dt, g_A, g_x, g_B, g_C,
                                                                          rows[0], rows[1], scratch[0], scratch[1]))
        return g_dt, g_A, g_x, g_B, g_C


def inverse_softplus(x):
    return x + torch.log(-torch.expm1(-x))


class MambaMixer(nn.Module):
    """MambaMixer.slow_forward (no cache): in_proj -> (hidden, gate); causal conv + SiLU; x_proj -> (dt, B, C);
    dt = softplus(dt_proj(dt)); the selective scan h_t = exp(A dt_t) h_{t-1} + dt_t B_t x_t, y_t = C_t h_t + D x_t,
    run sequentially over time; y * silu(gate); out_proj."""

    def __init__(self, c):
        super().__init__()
        d, E, N, R = c["hidden_size"], c["intermediate_size"], c["state_size"], c["time_step_rank"]
        self.E, self.N, self.R = E, N, R
        self.in_proj = nn.Linear(d, 2 * E, bias=c["use_bias"])
        self.conv1d = nn.Conv1d(E, E, c["conv_kernel"], groups=E, padding=c["conv_kernel"] - 1,
                                bias=c["use_conv_bias"])
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).expand(E, -1).contiguous())
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d, bias=c["use_bias"])

    def init_time_step(self, c):
        """MambaPreTrainedModel._init_weights: dt_proj.weight ~ U(+-rank^-0.5 * scale); dt_proj.bias = the
        softplus inverse of dt, log-uniform in [time_step_min, time_step_max] and floored at time_step_floor."""
        std = self.R ** -0.5 * c["time_step_scale"]
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        lo, hi = math.log(c["time_step_min"]), math.log(c["time_step_max"])
        dt = torch.exp(torch.rand(self.E) * (hi - lo) + lo).clamp(min=c["time_step_floor"])
        with torch.no_grad():
            self.dt_proj.bias.copy_(inverse_softplus(dt))

    def forward(self, x):
        hidden, gate = self.in_proj(x).chunk(2, dim=-1)
        hidden = F.silu(causal_conv1d(self.conv1d, hidden))  # [B, T, E]
        dt, B, C = self.x_proj(hidden).split([self.R, self.N, self.N], dim=-1)
        dt = F.softplus(self.dt_proj(dt))  # [B, T, E]
        A = -torch.exp(self.A_log.float())  # [E, N]
        y = SelectiveScan.apply(dt, A, hidden[..., None], B[:, :, None, :], C[:, :, None, :])[..., 0]
        y = y + hidden * self.D
        return self.out_proj(y * F.silu(gate))


class MambaBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = RMSNorm(c["hidden_size"], c["layer_norm_epsilon"])
        self.mixer = MambaMixer(c)

    def forward(self, x):
        return x + self.mixer(self.norm(x))


class MambaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(MambaBlock(c) for _ in range(c["num_hidden_layers"]))
        self.norm_f = RMSNorm(c["hidden_size"], c["layer_norm_epsilon"])

    def forward(self, ids):
        x = self.embeddings(ids)
        for layer in self.layers:
            x = layer(x)
        return self.norm_f(x)


def mamba_for_causal_lm(c):
    backbone = MambaModel(c)
    model = CausalLM(c, "backbone", backbone, backbone.embeddings)
    for layer in backbone.layers:
        layer.mixer.init_time_step(c)
        if c["rescale_prenorm_residual"]:
            with torch.no_grad():
                layer.mixer.out_proj.weight /= math.sqrt(c["num_hidden_layers"])
    return model


def mamba_config(**kw):
    """MambaConfig's keys (configuration_mamba.py), with its defaults where not given; intermediate_size and
    time_step_rank are derived as the config class does."""
    c = {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": 50280, "hidden_size": 768,
         "state_size": 16, "num_hidden_layers": 32, "layer_norm_epsilon": 1e-5, "pad_token_id": 0,
         "bos_token_id": 0, "eos_token_id": 0, "expand": 2, "conv_kernel": 4, "use_bias": False,
         "use_conv_bias": True, "hidden_act": "silu", "initializer_range": 0.1, "residual_in_fp32": True,
         "time_step_rank": "auto", "time_step_scale": 1.0, "time_step_min": 0.001, "time_step_max": 0.1,
         "time_step_init_scheme": "random", "time_step_floor": 1e-4, "rescale_prenorm_residual": False,
         "use_cache": True, "use_mambapy": False, "tie_word_embeddings": True, "torch_dtype": "float32"}
    c.update(kw)
    c["intermediate_size"] = int(c["expand"] * c["hidden_size"])
    if c["time_step_rank"] == "auto":
        c["time_step_rank"] = math.ceil(c["hidden_size"] / 16)
    return c


# ---- Bamba (Mamba-2 + attention hybrid) ----------------------------------------------------------------------------

class GatedRMSNorm(nn.Module):
    """BambaRMSNormGated: RMS norm of y * silu(gate) over all of d_inner (not per group)."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, y, gate):
        y = y * F.silu(gate)
        return self.weight * (y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))


class BambaMixer(nn.Module):
    """BambaMixer.torch_forward (no cache) with the SSD recurrence run sequentially: in_proj -> (gate, xBC, dt);
    causal conv + SiLU over xBC; dt = clamp(softplus(dt + dt_bias)); per head h with scalar A_h:
    S_t = exp(A_h dt_t) S_{t-1} + dt_t x_t B_t^T, y_t = S_t C_t + D_h x_t; gated RMS norm; out_proj."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.E = c["mamba_expand"] * d
        self.H, self.P, self.N, self.G = c["mamba_n_heads"], c["mamba_d_head"], c["mamba_d_state"], c["mamba_n_groups"]
        self.conv_dim = self.E + 2 * self.G * self.N
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, c["mamba_d_conv"], groups=self.conv_dim,
                                padding=c["mamba_d_conv"] - 1, bias=c["mamba_conv_bias"])
        self.in_proj = nn.Linear(d, self.E + self.conv_dim + self.H, bias=c["mamba_proj_bias"])
        self.dt_bias = nn.Parameter(torch.ones(self.H))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, self.H + 1, dtype=torch.float32)))
        self.norm = GatedRMSNorm(self.E, c["rms_norm_eps"])
        self.D = nn.Parameter(torch.ones(self.H))
        self.out_proj = nn.Linear(self.E, d, bias=c["mamba_proj_bias"])

    def forward(self, x):
        Bsz, T, _ = x.shape
        gate, xBC, dt = self.in_proj(x).split([self.E, self.conv_dim, self.H], dim=-1)
        xBC = F.silu(causal_conv1d(self.conv1d, xBC))
        hidden, B, C = xBC.split([self.E, self.G * self.N, self.G * self.N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # [B, T, H]; BambaMixer's time_step_limit is (0, inf): no clamp
        hidden = hidden.reshape(Bsz, T, self.H, self.P)
        rep = self.H // self.G  # heads per group share B and C
        B = B.reshape(Bsz, T, self.G, self.N).repeat_interleave(rep, dim=2)  # [B, T, H, N]
        C = C.reshape(Bsz, T, self.G, self.N).repeat_interleave(rep, dim=2)
        A = -torch.exp(self.A_log.float())
        y = SelectiveScan.apply(dt, A[:, None], hidden, B, C) + hidden * self.D[:, None]  # [B, T, H, P]
        return self.out_proj(self.norm(y.reshape(Bsz, T, self.E), gate))


class BambaDecoderLayer(nn.Module):
    """x + mixer(input_layernorm(x)), then x + feed_forward(pre_ff_layernorm(x)); the mixer is `mamba` or
    `self_attn` (partial rotary) by layer."""

    def __init__(self, c, attention):
        super().__init__()
        self.feed_forward = GatedMLP(c["hidden_size"], c["intermediate_size"])
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.pre_ff_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.is_attention = attention
        if attention:
            self.self_attn = CausalSelfAttention(c)
        else:
            self.mamba = BambaMixer(c)

    def forward(self, x, cos, sin):
        h = self.input_layernorm(x)
        x = x + (self.self_attn(h, cos, sin) if self.is_attention else self.mamba(h))
        return x + self.feed_forward(self.pre_ff_layernorm(x))


class BambaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        attn = set(c["attn_layer_indices"] or [])
        self.layers = nn.ModuleList(BambaDecoderLayer(c, i in attn) for i in range(c["num_hidden_layers"]))
        self.final_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        head_dim = c["hidden_size"] // c["num_attention_heads"]
        self.rotary_dim, self.theta = int(head_dim * c["partial_rotary_factor"]), c["rope_theta"]

    def forward(self, ids):
        x = self.embed_tokens(ids)
        cos, sin = rope_cos_sin(self.rotary_dim, self.theta, torch.arange(ids.shape[1]))
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.final_layernorm(x)


def bamba_for_causal_lm(c):
    backbone = BambaModel(c)
    model = CausalLM(c, "model", backbone, backbone.embed_tokens)
    for layer in backbone.layers:  # BambaPreTrainedModel._init_weights resets these after the generic init
        if not layer.is_attention:
            with torch.no_grad():
                layer.mamba.dt_bias.fill_(1.0)
                layer.mamba.A_log.copy_(torch.log(torch.arange(1, layer.mamba.H + 1, dtype=torch.float32)))
                layer.mamba.D.fill_(1.0)
    return model


def bamba_config(**kw):
    """BambaConfig's keys (configuration_bamba.py), with its defaults where not given. Rotary settings are written in
    the released checkpoints' form (rope_theta, partial_rotary_factor = 0.5, which BambaConfig hard-codes)."""
    c = {"architectures": ["BambaForCausalLM"], "model_type": "bamba", "vocab_size": 128000,
         "tie_word_embeddings": False, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_act": "silu", "initializer_range": 0.02,
         "rms_norm_eps": 1e-5, "use_cache": True, "num_logits_to_keep": 1, "pad_token_id": 0, "bos_token_id": 1,
         "eos_token_id": 2, "max_position_embeddings": 262144, "attention_dropout": 0.0, "attention_bias": False,
         "mlp_bias": False, "attn_layer_indices": None, "mamba_n_heads": 128, "mamba_d_head": "auto",
         "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_chunk_size": 256,
         "mamba_conv_bias": True, "mamba_proj_bias": False, "time_step_min": 0.001, "time_step_max": 0.1,
         "z_loss_coefficient": 0.0, "rope_theta": 10000.0,
         "rope_scaling": None, "partial_rotary_factor": 0.5, "torch_dtype": "float32"}
    c.update(kw)
    if c["mamba_d_head"] == "auto":
        c["mamba_d_head"] = c["mamba_expand"] * c["hidden_size"] // c["mamba_n_heads"]
    assert c["mamba_d_head"] * c["mamba_n_heads"] == c["mamba_expand"] * c["hidden_size"]
    return c


# ---- T5 ----------------------------------------------------------------------------------------------------------

def relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """T5Attention._relative_position_bucket: exact buckets for small distances, log-spaced up to max_distance;
    bidirectional halves the buckets between the two directions."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


class T5LayerNorm(nn.Module):
    """RMS norm without mean subtraction or bias, variance in f32."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))


class T5Attention(nn.Module):
    """q/k/v/o without bias and without 1/sqrt(d) scaling (T5 folds it into the init); the first layer of each stack
    owns relative_attention_bias [num_buckets, heads], whose bias all layers of the stack reuse."""

    def __init__(self, c, has_relative_attention_bias, bidirectional):
        super().__init__()
        d, self.H, self.D = c["d_model"], c["num_heads"], c["d_kv"]
        self.q = nn.Linear(d, self.H * self.D, bias=False)
        self.k = nn.Linear(d, self.H * self.D, bias=False)
        self.v = nn.Linear(d, self.H * self.D, bias=False)
        self.o = nn.Linear(self.H * self.D, d, bias=False)
        self.bidirectional = bidirectional
        self.num_buckets = c["relative_attention_num_buckets"]
        self.max_distance = c["relative_attention_max_distance"]
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.H)

    def position_bias(self, q_len, k_len):
        """[1, H, q_len, k_len]; relative position = key position - query position."""
        rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
        buckets = relative_position_bucket(rel, self.bidirectional, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def forward(self, x, kv, bias):
        """bias: [1 or B, H, Tq, Tk] additive (position bias plus masks)."""
        B, Tq, _ = x.shape
        q = self.q(x).view(B, Tq, self.H, self.D).transpose(1, 2)
        k = self.k(kv).view(B, -1, self.H, self.D).transpose(1, 2)
        v = self.v(kv).view(B, -1, self.H, self.D).transpose(1, 2)
        probs = (q @ k.transpose(-1, -2) + bias).softmax(-1)
        return self.o((probs @ v).transpose(1, 2).reshape(B, Tq, -1))


def gelu_new(x):
    """HF's "gelu_new" (the tanh approximation), which "gated-gelu" maps to."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class T5DenseActDense(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wi = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)

    def forward(self, x):
        return self.wo(F.relu(self.wi(x)))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wi_0 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wi_1 = nn.Linear(c["d_model"], c["d_ff"], bias=False)
        self.wo = nn.Linear(c["d_ff"], c["d_model"], bias=False)

    def forward(self, x):
        return self.wo(gelu_new(self.wi_0(x)) * self.wi_1(x))


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c, has_bias, bidirectional):
        super().__init__()
        self.SelfAttention = T5Attention(c, has_bias, bidirectional)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, x, bias):
        h = self.layer_norm(x)
        return x + self.SelfAttention(h, h, bias)


class T5LayerCrossAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.EncDecAttention = T5Attention(c, False, True)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, x, memory, bias):
        return x + self.EncDecAttention(self.layer_norm(x), memory, bias)


class T5LayerFF(nn.Module):
    def __init__(self, c):
        super().__init__()
        gated = c["feed_forward_proj"].startswith("gated-")
        self.DenseReluDense = T5DenseGatedActDense(c) if gated else T5DenseActDense(c)
        self.layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    def __init__(self, c, first, decoder):
        super().__init__()
        layers = [T5LayerSelfAttention(c, first, not decoder)]
        if decoder:
            layers.append(T5LayerCrossAttention(c))
        layers.append(T5LayerFF(c))
        self.layer = nn.ModuleList(layers)

    def forward(self, x, self_bias, memory=None, cross_bias=None):
        x = self.layer[0](x, self_bias)
        if memory is not None:
            x = self.layer[1](x, memory, cross_bias)
        return self.layer[-1](x)


class T5Stack(nn.Module):
    def __init__(self, c, n_layers, decoder):
        super().__init__()
        self.block = nn.ModuleList(T5Block(c, i == 0, decoder) for i in range(n_layers))
        self.final_layer_norm = T5LayerNorm(c["d_model"], c["layer_norm_epsilon"])
        self.decoder = decoder

    def forward(self, x, pad_mask, memory=None, memory_pad_mask=None):
        """x [B, T, d] embedded; pad_mask [B, T] True at real tokens (the encoder masks padded keys; the decoder is
        causal, and its cross-attention masks padded encoder positions)."""
        T = x.shape[1]
        bias = self.block[0].layer[0].SelfAttention.position_bias(T, T)
        neg = torch.finfo(x.dtype).min
        if self.decoder:
            bias = bias + torch.ones(T, T, dtype=torch.bool).triu(1) * neg
        else:
            bias = bias + (~pad_mask)[:, None, None, :] * neg
        cross = None if memory is None else (~memory_pad_mask)[:, None, None, :] * neg
        for blk in self.block:
            x = blk(x, bias, memory, cross)
        return self.final_layer_norm(x)


class T5ForConditionalGeneration(nn.Module):
    """shared embedding, encoder and decoder stacks, lm_head; with tied embeddings the decoder output is scaled by
    d_model^-0.5 before the (shared) head, as T5ForConditionalGeneration does."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.shared = nn.Embedding(c["vocab_size"], c["d_model"])
        self.encoder = T5Stack(c, c["num_layers"], decoder=False)
        self.decoder = T5Stack(c, c["num_decoder_layers"], decoder=True)
        self.lm_head = nn.Linear(c["d_model"], c["vocab_size"], bias=False)
        self.init_weights()
        if c["tie_word_embeddings"]:
            self.lm_head.weight = self.shared.weight

    def init_weights(self):
        """T5PreTrainedModel._init_weights with initializer_factor f: embedding N(0, f); q N(0, f (d d_kv)^-0.5),
        k/v N(0, f d^-0.5), o N(0, f (H d_kv)^-0.5), relative bias N(0, f d^-0.5), wi N(0, f d^-0.5), wo
        N(0, f d_ff^-0.5), lm_head N(0, f d^-0.5)."""
        f, d, dff, D, H = (self.c["initializer_factor"], self.c["d_model"], self.c["d_ff"], self.c["d_kv"],
                           self.c["num_heads"])
        nn.init.normal_(self.shared.weight, 0.0, f)
        nn.init.normal_(self.lm_head.weight, 0.0, f * d ** -0.5)
        for m in self.modules():
            if isinstance(m, T5Attention):
                nn.init.normal_(m.q.weight, 0.0, f * (d * D) ** -0.5)
                nn.init.normal_(m.k.weight, 0.0, f * d ** -0.5)
                nn.init.normal_(m.v.weight, 0.0, f * d ** -0.5)
                nn.init.normal_(m.o.weight, 0.0, f * (H * D) ** -0.5)
                if hasattr(m, "relative_attention_bias"):
                    nn.init.normal_(m.relative_attention_bias.weight, 0.0, f * d ** -0.5)
            elif isinstance(m, (T5DenseActDense, T5DenseGatedActDense)):
                for name in ("wi", "wi_0", "wi_1"):
                    if hasattr(m, name):
                        nn.init.normal_(getattr(m, name).weight, 0.0, f * d ** -0.5)
                nn.init.normal_(m.wo.weight, 0.0, f * dff ** -0.5)

    def encode(self, ids):
        mask = ids != self.c["pad_token_id"]
        return self.encoder(self.shared(ids), mask), mask

    def decode(self, dec_ids, memory, memory_mask):
        h = self.decoder(self.shared(dec_ids), None, memory, memory_mask)
        if self.c["tie_word_embeddings"]:
            h = h * self.c["d_model"] ** -0.5
        return self.lm_head(h)

    def forward(self, ids, dec_ids):
        memory, mask = self.encode(ids)
        return self.decode(dec_ids, memory, mask)

    def state_dict_hf(self):
        """As save_pretrained writes it: shared.weight stands for the tied encoder/decoder embed_tokens (and for
        lm_head when tied)."""
        return tied_state_dict(self, ("lm_head.weight",) if self.c["tie_word_embeddings"] else ())

    @torch.no_grad()
    def greedy(self, ids, max_len):
        """Batched greedy decoding from decoder_start_token_id until every row emitted EOS (or max_len)."""
        memory, mask = self.encode(ids)
        out = torch.full((ids.shape[0], 1), self.c["decoder_start_token_id"])
        done = torch.zeros(ids.shape[0], dtype=torch.bool)
        for _ in range(max_len):
            nxt = self.decode(out, memory, mask)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.c["pad_token_id"]), nxt)
            out = torch.cat([out, nxt[:, None]], dim=1)
            done |= nxt == self.c["eos_token_id"]
            if done.all():
                break
        return [strip_eos(row[1:].tolist(), self.c["eos_token_id"]) for row in out]

    @torch.no_grad()
    def beam(self, ids, beams, max_len, length_penalty=1.0):
        """Beam search for one input [1, T]: keeps the `beams` best partial hypotheses by summed log-probability;
        finished hypotheses are scored as HF's BeamSearchScorer does, sum / length^length_penalty (length counted
        without the decoder start token, with EOS); stops when no open beam can beat the worst kept finished one."""
        memory, mask = self.encode(ids)
        eos = self.c["eos_token_id"]
        open_ = [([self.c["decoder_start_token_id"]], 0.0)]
        finished = []
        for _ in range(max_len):
            seqs = torch.tensor([s for s, _ in open_])
            logp = self.decode(seqs, memory.expand(len(open_), -1, -1), mask.expand(len(open_), -1))[:, -1]
            logp = logp.log_softmax(-1)
            cand = []
            for b, (s, score) in enumerate(open_):
                top = logp[b].topk(2 * beams)
                cand += [(score + v, s + [t]) for v, t in zip(top.values.tolist(), top.indices.tolist())]
            cand.sort(key=lambda x: -x[0])
            open_ = []
            for rank, (score, s) in enumerate(cand):
                if s[-1] == eos:
                    if rank < beams:
                        finished.append((score / (len(s) - 1) ** length_penalty, s))
                else:
                    open_.append((s, score))
                if len(open_) == beams:
                    break
            finished = sorted(finished, key=lambda x: -x[0])[:beams]
            best_open = max(sc for _, sc in open_) / (len(open_[0][0])) ** length_penalty if open_ else -math.inf
            if len(finished) == beams and finished[-1][0] >= best_open:
                break
        best = max(finished, key=lambda x: x[0])[1] if finished else open_[0][0]
        return strip_eos(best[1:], eos)


def strip_eos(ids, eos):
    return ids[:ids.index(eos)] if eos in ids else ids


def t5_config(**kw):
    """T5Config's keys (configuration_t5.py), with its defaults where not given (dense_act_fn and is_gated_act are
    derived from feed_forward_proj as the config class does)."""
    c = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": 32128, "d_model": 512,
         "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_decoder_layers": None, "num_heads": 8,
         "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "dropout_rate": 0.1,
         "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0, "feed_forward_proj": "relu",
         "is_encoder_decoder": True, "use_cache": True, "pad_token_id": 0, "eos_token_id": 1,
         "decoder_start_token_id": 0, "tie_word_embeddings": True, "torch_dtype": "float32"}
    c.update(kw)
    c["num_decoder_layers"] = c["num_decoder_layers"] or c["num_layers"]
    act = c["feed_forward_proj"].split("-")[-1]
    c["is_gated_act"] = c["feed_forward_proj"].startswith("gated-")
    c["dense_act_fn"] = "gelu_new" if c["feed_forward_proj"] == "gated-gelu" else act
    return c


# ---- BERT ----------------------------------------------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], d)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], d)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], d)
        self.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, ids, token_types):
        pos = torch.arange(ids.shape[1])[None]
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)
                              + self.token_type_embeddings(token_types))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, self.H = c["hidden_size"], c["num_attention_heads"]
        self.D = d // self.H
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, bias):
        B, T, _ = x.shape
        q, k, v = (proj(x).view(B, T, self.H, self.D).transpose(1, 2) for proj in (self.query, self.key, self.value))
        probs = (q @ k.transpose(-1, -2) / math.sqrt(self.D) + bias).softmax(-1)
        return (probs @ v).transpose(1, 2).reshape(B, T, -1)


class BertResidualOutput(nn.Module):
    """BertSelfOutput / BertOutput: LayerNorm(dense(h) + residual) (post-norm)."""

    def __init__(self, d_in, d, eps):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertResidualOutput(c["hidden_size"], c["hidden_size"], c["layer_norm_eps"])

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # hidden_act "gelu": the exact erf form


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertResidualOutput(c["intermediate_size"], c["hidden_size"], c["layer_norm_eps"])

    def forward(self, x, bias):
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, ids, attention_mask, token_types):
        """Returns (last hidden states, pooled [CLS]); padded keys get the dtype's minimum as additive bias."""
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        h = self.encoder(self.embeddings(ids, token_types), bias)
        return h, self.pooler(h)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.classifier = nn.Linear(c["hidden_size"], len(c["id2label"]))
        init_weights(self, c["initializer_range"])  # BertPreTrainedModel: LayerNorm stays (1, 0)

    def forward(self, ids, attention_mask, token_types=None):
        token_types = torch.zeros_like(ids) if token_types is None else token_types
        return self.classifier(self.bert(ids, attention_mask, token_types)[1])


def bert_config(**kw):
    """BertConfig's keys (configuration_bert.py), with its defaults where not given."""
    c = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 30522,
         "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
         "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
         "pad_token_id": 0, "position_embedding_type": "absolute", "use_cache": True, "classifier_dropout": None,
         "id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1},
         "problem_type": "single_label_classification", "torch_dtype": "float32"}
    c.update(kw)
    return c
