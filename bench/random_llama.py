"""Writes a randomly initialised LlamaForCausalLM in Hugging Face layout (config.json + model.safetensors, f32), for
`lamina bench` figures on a model larger than the caches without a download. The default shape is 156 M parameters
(hidden 1024, 8 layers, GQA 16/4, SwiGLU 2816, untied 32000-token LM head): 626 MB in f32, of which the 492 MB of
Linear weights are what a decode step reads.

  /usr/bin/python3 bench/random_llama.py /tmp/llama-156m
  build/examples/cli/lamina bench --model /tmp/llama-156m [--quantize q8|q4]"""
import argparse
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "train"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import models  # noqa: E402
from common import save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--intermediate", type=int, default=2816)
    ap.add_argument("--vocab", type=int, default=32000)
    args = ap.parse_args()
    torch.manual_seed(0)
    config = models.llama_config(hidden_size=args.hidden, intermediate_size=args.intermediate,
                                 num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
                                 num_key_value_heads=args.hidden // 256, vocab_size=args.vocab,
                                 max_position_embeddings=4096, tie_word_embeddings=False, torch_dtype="float32")
    with torch.no_grad():
        state = models.llama_for_causal_lm(config).state_dict()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_safetensors(os.path.join(args.out, "model.safetensors"), state)
    print(f"{args.out}: {sum(t.numel() for t in state.values()) / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
