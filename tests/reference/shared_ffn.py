"""Golden outputs for cross-layer FFN sharing: a 5-layer GPT-style decoder of torch.nn.TransformerEncoderLayer
(norm_first=True, causal mask) in which layers 2 and 4 reuse layer 0's FFN modules (linear1, linear2) — the same
nn.Linear objects, so one set of parameters — while every layer keeps its own attention and norms. PyTorch's
named_parameters() lists a shared parameter once, under its first owner ("layers.0.linear1.weight"); the fixture
stores it once under lamina's path for that owner ("layers.0.ffn.up.weight"), as lamina's SharedFfn names it.
Run with Debian's /usr/bin/python3."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import save_safetensors, seeded  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "fixtures")

# lamina path of each TransformerEncoderLayer parameter (q/k/v split from in_proj below).
NAMES = {"self_attn.out_proj.weight": "mixer.o.weight", "self_attn.out_proj.bias": "mixer.o.bias",
         "norm1.weight": "mixer_norm.weight", "norm1.bias": "mixer_norm.bias",
         "norm2.weight": "ffn_norm.weight", "norm2.bias": "ffn_norm.bias",
         "linear1.weight": "ffn.up.weight", "linear1.bias": "ffn.up.bias",
         "linear2.weight": "ffn.down.weight", "linear2.bias": "ffn.down.bias"}


def shared_ffn(seed=5):
    g = seeded(seed)
    c = dict(d_model=32, n_layers=5, n_heads=4, n_kv_heads=4, head_dim=8, d_ff=48, vocab_size=40, max_positions=32,
             norm_eps=1e-5, activation="gelu_erf", tie_embeddings=True, qkv_bias=True, o_bias=True, mlp_bias=True)
    d, V = c["d_model"], c["vocab_size"]
    layers = torch.nn.ModuleList(
        torch.nn.TransformerEncoderLayer(d, c["n_heads"], c["d_ff"], dropout=0.0, activation="gelu", batch_first=True,
                                         norm_first=True, layer_norm_eps=c["norm_eps"]) for _ in range(c["n_layers"]))
    for i in (2, 4):  # the even layers after 0 reuse layer 0's FFN modules
        layers[i].linear1, layers[i].linear2 = layers[0].linear1, layers[0].linear2
    final = torch.nn.LayerNorm(d, eps=c["norm_eps"])
    with torch.no_grad():  # non-trivial weights everywhere, norm gains around 1
        for name, prm in list(layers.named_parameters()) + list(final.named_parameters()):
            prm.copy_(torch.randn(prm.shape, generator=g) * 0.2 + (1.0 if "norm" in name and "weight" in name else 0.0))
        final.weight.add_(1.0)
    wte, wpe = torch.randn(V, d, generator=g) * 0.3, torch.randn(c["max_positions"], d, generator=g) * 0.1

    w = {"embed.tokens": wte, "embed.positions": wpe, "final_norm.weight": final.weight, "final_norm.bias": final.bias}
    for name, prm in layers.named_parameters():  # each shared parameter once, under layer 0
        i, rest = name.split(".", 1)
        p = f"layers.{i}."
        if rest.startswith("self_attn.in_proj_"):
            kind = rest.rsplit("_", 1)[1]
            for part, t in zip("qkv", prm.chunk(3)):
                w[f"{p}mixer.{part}.{kind}"] = t
        else:
            w[p + NAMES[rest]] = prm
    assert "layers.0.ffn.up.weight" in w and "layers.2.ffn.up.weight" not in w and "layers.1.ffn.up.weight" in w

    ids = torch.randint(0, V, (12,), generator=g)
    T = ids.shape[0]
    x = (wte[ids] + wpe[:T])[None]
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T)
    for L in layers:
        x = L(x, src_mask=causal)
    logits = final(x[0]) @ wte.T

    tensors = {k: v.detach().float() for k, v in w.items()}
    tensors["input_ids"] = ids.to(torch.int64)
    tensors["expected_logits"] = logits.detach().float()
    save_safetensors(os.path.join(OUT, "shared_ffn.safetensors"), tensors, {"config": json.dumps(c)})
    print(f"shared_ffn: {len(w)} weights, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    shared_ffn()
