"""Shared helpers for the golden-fixture scripts: a dependency-free safetensors writer (Debian's PyTorch has no
safetensors package) and deterministic tensor helpers. Run the scripts with Debian's /usr/bin/python3."""
import json
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32"}


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} in the safetensors layout, tensors in name order, header padded to 8 bytes."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def seeded(seed):
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def bytes_to_unicode():
    """GPT-2's byte -> character map: printable Latin-1 bytes stand for themselves, the rest take U+0100 onwards in
    increasing byte order. Returned in GPT-2's order (printables first), which also orders our base vocabulary."""
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    mapping, extra = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return [(b, mapping[b]) for b in keep + [b for b in range(256) if b not in keep]]


BYTE_PAIRS = bytes_to_unicode()
B2U = dict(BYTE_PAIRS)


def to_symbols(text):
    return "".join(B2U[b] for b in text.encode("utf-8"))


def merge_pair(symbols, pair):
    """symbols with every adjacent occurrence of pair (left to right, non-overlapping) replaced by its join: one BPE
    merge applied to one word."""
    out, k = [], 0
    while k < len(symbols):
        if k + 1 < len(symbols) and symbols[k] == pair[0] and symbols[k + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            k += 2
        else:
            out.append(symbols[k])
            k += 1
    return out
