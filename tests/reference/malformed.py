"""Writes the malformed-input corpus under fixtures/malformed/<parser>/: one file per way an input can be broken and
an expected.json mapping each file to the phrases its lamina::Error must contain (the file name is always required
too). tests/io/malformed_test.cpp replays every folder with its parser; the fuzzers take the files as seeds.
Each safetensors case is a raw header (exact bytes, so duplicate keys and invalid UTF-8 survive) plus data bytes.
Run with any Python 3: python3 tests/reference/malformed.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "malformed")


def safetensors(header: bytes, data: bytes = b"", length=None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + data


def tensor(dtype="F32", shape="[2]", offsets="[0,8]", name="w"):
    return f'"{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}'


def obj(*entries):
    return ("{" + ",".join(entries) + "}").encode()


DATA = bytes(range(16))
SAFETENSORS = {
    # name: (bytes, phrases the error must contain)
    "empty.safetensors": (b"", ["too short"]),
    "short_prefix.safetensors": (b"\x10\x00\x00", ["too short"]),
    "header_longer_than_file.safetensors": (safetensors(obj(tensor()), DATA, length=4096), ["header length 4096 exceeds"]),
    "header_length_2_64.safetensors": (safetensors(b"{}", b"", length=2**64 - 1), ["exceeds"]),
    "header_truncated.safetensors": (safetensors(obj(tensor()))[:-5], ["exceeds"]),
    "invalid_json.safetensors": (safetensors(b'{"w": {"dtype": "F32",'), ["invalid JSON"]),
    "not_an_object.safetensors": (safetensors(b"[1, 2, 3]"), ["not a JSON object"]),
    "duplicate_key.safetensors": (safetensors(obj(tensor(), tensor(offsets="[8,16]")), DATA), ['duplicate key "w"']),
    "entry_not_object.safetensors": (safetensors(b'{"w": 3}'), ['tensor "w"', "not an object"]),
    "dtype_missing.safetensors": (safetensors(b'{"w": {"shape": [2], "data_offsets": [0, 8]}}', DATA),
                                  ['tensor "w"', "dtype"]),
    "dtype_not_string.safetensors": (safetensors(obj(tensor().replace('"F32"', "32")), DATA), ['tensor "w"', "dtype"]),
    "dtype_unknown.safetensors": (safetensors(obj(tensor(dtype="Q4_K")), DATA), ['tensor "w"', 'unknown dtype "Q4_K"']),
    "shape_not_array.safetensors": (safetensors(obj(tensor(shape='"2x2"')), DATA), ['tensor "w"', "shape"]),
    "shape_negative.safetensors": (safetensors(obj(tensor(shape="[-2]")), DATA), ['tensor "w"', "non-negative"]),
    "shape_fraction.safetensors": (safetensors(obj(tensor(shape="[2.5]")), DATA), ['tensor "w"', "non-negative integers"]),
    "shape_product_overflows.safetensors": (
        safetensors(obj(tensor(shape="[4294967296,4294967296,4294967296]")), DATA), ['tensor "w"', "overflows"]),
    "shape_bytes_overflow.safetensors": (
        safetensors(obj(tensor(dtype="F64", shape="[2305843009213693952,2]")), DATA), ['tensor "w"', "more than 2^64"]),
    "shape_too_large_for_int64.safetensors": (
        safetensors(obj(tensor(shape="[18446744073709551615]")), DATA), ['tensor "w"', "overflows"]),
    "size_mismatch.safetensors": (safetensors(obj(tensor(shape="[3]")), DATA), ['tensor "w"', "holds 8 bytes", "needs 12"]),
    "offsets_negative.safetensors": (safetensors(obj(tensor(offsets="[-8,0]")), DATA), ['tensor "w"', "data_offsets"]),
    "offsets_one_value.safetensors": (safetensors(obj(tensor(offsets="[8]")), DATA), ['tensor "w"', "data_offsets"]),
    "offsets_reversed.safetensors": (safetensors(obj(tensor(offsets="[8,0]")), DATA), ['tensor "w"', "[8, 0]"]),
    "offsets_past_end.safetensors": (safetensors(obj(tensor(offsets="[12,20]")), DATA),
                                     ['tensor "w"', "[12, 20]", "outside the 16 data bytes"]),
    "offsets_past_2_64.safetensors": (
        safetensors(obj(tensor(offsets="[18446744073709551615,18446744073709551623]")), DATA), ['tensor "w"']),
    "offsets_overlap.safetensors": (safetensors(obj(tensor(), tensor(name="v", offsets="[4,12]")), DATA),
                                    ["overlap at byte 4"]),
    "data_truncated.safetensors": (safetensors(obj(tensor(shape="[4]", offsets="[0,16]")), DATA[:10]),
                                   ['tensor "w"', "outside the 10 data bytes"]),
    "metadata_not_object.safetensors": (safetensors(b'{"__metadata__": [1]}'), ["__metadata__"]),
    "metadata_value_not_string.safetensors": (safetensors(b'{"__metadata__": {"format": 1}}'),
                                              ["__metadata__", '"format"']),
    "invalid_utf8_key.safetensors": (safetensors(obj(tensor()).replace(b'"w"', b'"w\xff"'), DATA), ["invalid JSON"]),
    "element_count_past_int64.safetensors": (safetensors(obj(tensor(shape="[4294967296,2147483648,0]", offsets="[0,0]"))),
                                             ['tensor "w"', "overflows"]),
    "nested_too_deep.safetensors": (safetensors(b'{"__metadata__": ' + b"[" * 200 + b"]" * 200 + b"}"),
                                    ["nested deeper than 64"]),
}

TOKENIZER = {
    # tokenizer.json cases not already covered by fixtures/tokenizers/malformed (tested in tests/io/tokenizer_test.cpp)
    "merge_three_parts.json": ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b c"]}},
                               ["model.merges[0]", "two tokens"]),
    "merge_not_string.json": ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", 1]]}},
                              ["model.merges[0]"]),
    "vocab_not_object.json": ({"model": {"type": "BPE", "vocab": ["a", "b"]}}, ["model.vocab", "expected an object"]),
    "vocab_id_negative.json": ({"model": {"type": "BPE", "vocab": {"a": -1}}}, ['model.vocab["a"]', "out of range"]),
    "vocab_id_huge.json": ({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2147483000}}}, ["token id 2147483000"]),
    "added_token_id_huge.json": ({"model": {"type": "BPE", "vocab": {"a": 0}},
                                  "added_tokens": [{"id": 1999999999, "content": "<s>", "special": True}]},
                                 ["token id 1999999999"]),
    "model_missing.json": ({"added_tokens": []}, ["model", "missing"]),
    "top_level_string.json": ("tokenizer", ["expected a JSON object"]),
}
# Bytes that are not UTF-8 inside a merge (JSON must be UTF-8, so the parser refuses the file).
INVALID_UTF8_MERGE = b'{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a \xc3"]}}'


def write(folder, files, expected):
    os.makedirs(folder, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    write(os.path.join(OUT, "safetensors"), {k: v[0] for k, v in SAFETENSORS.items()},
          {k: v[1] for k, v in SAFETENSORS.items()})
    files = {k: json.dumps(v[0]).encode() for k, v in TOKENIZER.items()}
    files["invalid_utf8_merge.json"] = INVALID_UTF8_MERGE
    expected = {k: v[1] for k, v in TOKENIZER.items()}
    expected["invalid_utf8_merge.json"] = ["invalid JSON", "UTF-8"]
    write(os.path.join(OUT, "tokenizer"), files, expected)


if __name__ == "__main__":
    main()
