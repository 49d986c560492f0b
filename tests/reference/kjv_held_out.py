"""Held-out text for the quantization-accuracy test of the shipped kjv-llama model
(tests/models/quant_accuracy_test.cpp), written to fixtures/text/kjv_held_out.txt.

Two of the 60 chapters that examples/train/data.py holds out of training (every 20th chapter, index % 20 == 10),
one from each testament, in the validation text's form: one verse a line, verse numbers stripped, chapters separated
by a blank line. The test tokenizes it with the model's own tokenizer.json. Needs Debian's bible-kjv-text (`bible`)
and /usr/bin/python3 (data.py imports torch and regex)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "train"))
from data import kjv_chapters  # noqa: E402

CHAPTERS = ["Ge11", "John14"]


def main():
    chapters = kjv_chapters()
    held_out = {ref: text for i, (ref, text) in enumerate(chapters) if i % 20 == 10}
    text = "\n\n".join(held_out[ref] for ref in CHAPTERS) + "\n"
    os.makedirs(os.path.join(HERE, "fixtures", "text"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "text", "kjv_held_out.txt"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
