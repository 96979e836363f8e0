"""Goldens for tests/test_positions.cpp.
Sinusoidal: the formula of Vaswani et al. 2017 (section 3.5), PE(p, 2i) = sin(p / 10000^(2i/d)),
PE(p, 2i+1) = cos(p / 10000^(2i/d)), in float64. Learned: torch.nn.Embedding rows at
position + offset (offset 2 as OPTLearnedPositionalEmbedding). Both are added to x.
Writes tests/data/positions_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_positions.py
"""
import torch

from golden import write_golden


def sinusoidal(positions, dim):
    p = positions.double().view(-1, 1)
    i = torch.arange(0, dim, 2, dtype=torch.float64)
    angle = p / (10000.0 ** (i / dim))
    pe = torch.empty(len(positions), dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def main():
    torch.manual_seed(5)
    dim = 20
    positions = torch.tensor([0, 1, 2, 17, 511, 4095, 20000], dtype=torch.int64)
    x = torch.randn(len(positions), dim)
    write_golden("positions_sinusoidal", {"x": x, "positions": positions,
                                          "out": (x.double() + sinusoidal(positions, dim)).float()}, {"dim": dim})

    n_positions = 40
    table = torch.randn(n_positions, dim)
    learned = torch.nn.Embedding(n_positions, dim)
    with torch.no_grad():
        learned.weight.copy_(table)
        for offset in (0, 2):
            pos = torch.tensor([0, 1, 5, 30, 37], dtype=torch.int64)
            write_golden(f"positions_learned_offset{offset}",
                         {"x": x[: len(pos)], "table": table, "positions": pos, "out": x[: len(pos)] + learned(pos + offset)},
                         {"dim": dim, "offset": offset})


if __name__ == "__main__":
    main()
