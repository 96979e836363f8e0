"""Goldens for tests/test_embedding.cpp: torch.nn.Embedding lookups from an F32 table, with
and without Gemma's sqrt(dim) scaling (GemmaModel multiplies the embeddings by
hidden_size ** 0.5), and from an F16 table, whose expected rows are its float32 values.
Writes tests/data/embedding_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_embedding.py
"""
import math

import torch

from golden import write_golden


def main():
    torch.manual_seed(42)
    n_vocab, dim = 50, 24
    table = torch.randn(n_vocab, dim)
    tokens = torch.tensor([0, 7, 49, 7, 13, 1], dtype=torch.int64)
    embedding = torch.nn.Embedding(n_vocab, dim)
    with torch.no_grad():
        embedding.weight.copy_(table)
        plain = embedding(tokens)
        scaled = embedding(tokens) * math.sqrt(dim)
        table_f16 = table.half()
        embedding.weight.copy_(table_f16.float())
        from_f16 = embedding(tokens)
    write_golden("embedding", {"table": table, "table_f16": table_f16, "tokens": tokens, "plain": plain,
                               "scaled": scaled, "from_f16": from_f16}, {"n_vocab": n_vocab, "dim": dim})


if __name__ == "__main__":
    main()
