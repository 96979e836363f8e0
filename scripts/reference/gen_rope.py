"""Goldens for tests/test_rope.cpp.

Frequencies follow the semantics of HF transformers' rope utilities (default, linear,
dynamic, yarn, llama3, longrope), re-derived here in float64 from the papers: RoFormer
(Su et al. 2021), position interpolation (Chen et al. 2023), NTK-aware dynamic scaling,
YaRN (Peng et al. 2023), Llama 3.1, LongRoPE (Ding et al. 2024). The rotation itself is
done two independent ways: half-split with HF's rotate_half and cos/sin tables,
interleaved as Meta's reference does it, by complex multiplication.
Writes tests/data/rope_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_rope.py
"""
import math

import torch

from golden import write_golden


def default_inv_freq(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))


def inv_freq_and_attention_factor(case, seq_len):
    dim, base, kind = case["rope_dim"], case["theta"], case.get("scaling", "none")
    inv_freq = default_inv_freq(base, dim)
    factor = case.get("factor", 1.0)
    context = case.get("original_max_position", 0)
    if kind == "linear":
        return inv_freq / factor, 1.0
    if kind == "dynamic":
        if seq_len > context:
            base = base * ((factor * seq_len / context) - (factor - 1)) ** (dim / (dim - 2))
            inv_freq = default_inv_freq(base, dim)
        return inv_freq, 1.0
    if kind == "yarn":
        beta_fast, beta_slow = case.get("beta_fast", 32.0), case.get("beta_slow", 1.0)

        def correction_dim(rotations):
            return dim * math.log(context / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(correction_dim(beta_fast)), 0)
        high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
        extrapolation_weight = 1 - ramp
        inv_freq = (inv_freq / factor) * (1 - extrapolation_weight) + inv_freq * extrapolation_weight
        return inv_freq, 0.1 * math.log(factor) + 1.0
    if kind == "llama3":
        low_ff, high_ff = case["low_freq_factor"], case["high_freq_factor"]
        low_wavelen, high_wavelen = context / low_ff, context / high_ff
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (context / wavelen - low_ff) / (high_ff - low_ff)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "longrope":
        ext = torch.tensor(case["long_factor"] if seq_len > context else case["short_factor"], dtype=torch.float64)
        attention = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(context))
        return inv_freq / ext, attention
    return inv_freq, 1.0


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, positions, case, seq_len):
    """x: (T, H, head_dim) float64. Only the first rope_dim dims of each head rotate."""
    rope_dim = case["rope_dim"]
    inv_freq, attention = inv_freq_and_attention_factor(case, seq_len)
    angles = positions.double().view(-1, 1) * inv_freq.view(1, -1)  # (T, rope_dim / 2)
    rot, rest = x[..., :rope_dim], x[..., rope_dim:]
    if case["layout"] == "half_split":
        emb = torch.cat((angles, angles), dim=-1)  # (T, rope_dim)
        cos = (emb.cos() * attention).unsqueeze(1)
        sin = (emb.sin() * attention).unsqueeze(1)
        rot = rot * cos + rotate_half(rot) * sin
    else:
        pairs = torch.view_as_complex(rot.reshape(*rot.shape[:-1], -1, 2).contiguous())
        rotation = torch.polar(torch.full_like(angles, attention), angles).unsqueeze(1)  # (T, 1, rope_dim / 2)
        rot = torch.view_as_real(pairs * rotation).flatten(-2)
    return torch.cat((rot, rest), dim=-1)


CASES = {
    "interleaved": dict(head_dim=16, rope_dim=16, theta=10000.0, layout="interleaved"),
    "half_split": dict(head_dim=16, rope_dim=16, theta=10000.0, layout="half_split"),
    "partial_half_split": dict(head_dim=20, rope_dim=8, theta=10000.0, layout="half_split"),
    "partial_interleaved": dict(head_dim=20, rope_dim=8, theta=10000.0, layout="interleaved"),
    "theta": dict(head_dim=32, rope_dim=32, theta=1000000.0, layout="half_split"),
    "linear": dict(head_dim=16, rope_dim=16, theta=10000.0, layout="half_split", scaling="linear", factor=4.0),
    "dynamic": dict(head_dim=16, rope_dim=16, theta=10000.0, layout="half_split", scaling="dynamic", factor=2.0,
                    original_max_position=64),
    "yarn": dict(head_dim=32, rope_dim=32, theta=10000.0, layout="half_split", scaling="yarn", factor=4.0,
                 original_max_position=2048),
    "llama3": dict(head_dim=32, rope_dim=32, theta=500000.0, layout="interleaved", scaling="llama3", factor=8.0,
                   original_max_position=8192, low_freq_factor=1.0, high_freq_factor=4.0),
    "longrope": dict(head_dim=16, rope_dim=12, theta=10000.0, layout="half_split", scaling="longrope",
                     factor=32.0, original_max_position=64,
                     short_factor=[1.0, 1.1, 1.2, 1.5, 2.0, 3.0], long_factor=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]),
}


def main():
    torch.manual_seed(2021)
    n_heads = 3
    for name, case in CASES.items():
        positions = torch.tensor([0, 1, 2, 7, 63, 500, 2047, 9000], dtype=torch.int64)
        x = torch.randn(len(positions), n_heads, case["head_dim"])
        tensors = {"x": x, "positions": positions}
        # The dynamic schemes depend on the sequence length: the whole call (the largest
        # position + 1) and a short one within the training context.
        tensors["out"] = apply_rope(x.double(), positions, case, int(positions.max()) + 1).float()
        short = positions[:5]
        tensors["out_short"] = apply_rope(x[:5].double(), short, case, int(short.max()) + 1).float()
        inv_freq, attention = inv_freq_and_attention_factor(case, int(positions.max()) + 1)
        tensors["inv_freq"] = inv_freq.float()
        meta = {k: (",".join(str(f) for f in v) if isinstance(v, list) else v) for k, v in case.items()}
        meta.update(n_heads=n_heads, attention_factor=attention)
        write_golden(f"rope_{name}", tensors, meta)


if __name__ == "__main__":
    main()
