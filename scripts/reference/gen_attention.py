"""Goldens for tests/test_attention.cpp and tests/test_alibi.cpp.

Attention is computed here the textbook way, independently of the C++ kernel: the full
score matrix in float64, an explicit boolean mask, torch.softmax, then the values.
Writes tests/data/attention_*.safetensors and tests/data/alibi_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_attention.py
"""
import math

import torch

from golden import write_golden


def alibi_slopes(n_heads):
    """Slopes as in the ALiBi paper's reference code (Press et al. 2021): the geometric
    sequence for a power of two, else the closest power of two's sequence followed by every
    other slope of the sequence for twice that many heads."""
    def power_of_2(n):
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]

    if math.log2(n_heads).is_integer():
        return power_of_2(n_heads)
    closest = 2 ** math.floor(math.log2(n_heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n_heads - closest]


def visibility(n_tokens, causal, window):
    """mask[i, j] = key j visible to query i (all tokens at positions 0 .. n_tokens - 1)."""
    i = torch.arange(n_tokens).view(-1, 1)
    j = torch.arange(n_tokens).view(1, -1)
    mask = torch.ones(n_tokens, n_tokens, dtype=torch.bool)
    if causal:
        mask &= j <= i
    if window > 0:
        mask &= j > i - window  # HF Mistral: the query and the window - 1 keys before it
    return mask


def reference_attention(q, k, v, causal=True, window=0, scale=None, slopes=None):
    """q: (T, H, D); k, v: (T, KV, D). Returns (T, H * D) in float32."""
    n_tokens, n_heads, head_dim = q.shape
    n_kv_heads = k.shape[1]
    group = n_heads // n_kv_heads
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    q64, k64, v64 = q.double(), k.double(), v.double()
    # Ainslie et al. 2023: query head h reads KV head h // group.
    k64 = k64.repeat_interleave(group, dim=1)
    v64 = v64.repeat_interleave(group, dim=1)
    scores = torch.einsum("ihd,jhd->hij", q64, k64) * scale  # (H, T, T)
    if slopes is not None:
        distance = (torch.arange(n_tokens).view(1, -1) - torch.arange(n_tokens).view(-1, 1)).double()  # j - i
        scores = scores + torch.tensor(slopes, dtype=torch.float64).view(-1, 1, 1) * distance
    scores = scores.masked_fill(~visibility(n_tokens, causal, window), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("hij,jhd->ihd", probs, v64)
    return out.reshape(n_tokens, n_heads * head_dim).float()


def qkv(n_tokens, n_heads, n_kv_heads, head_dim):
    return (torch.randn(n_tokens, n_heads, head_dim), torch.randn(n_tokens, n_kv_heads, head_dim),
            torch.randn(n_tokens, n_kv_heads, head_dim))


def shape_metadata(n_tokens, n_heads, n_kv_heads, head_dim, **extra):
    meta = {"n_tokens": n_tokens, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "head_dim": head_dim}
    meta.update(extra)
    return meta


def gen_plain(name, n_tokens, n_heads, n_kv_heads, head_dim, scale=0.3):
    q, k, v = qkv(n_tokens, n_heads, n_kv_heads, head_dim)
    write_golden(name, {
        "q": q, "k": k, "v": v,
        "expected": reference_attention(q, k, v),
        "expected_noncausal": reference_attention(q, k, v, causal=False),
        "expected_scale": reference_attention(q, k, v, scale=scale),
        # An F16 KV cache holds K and V rounded to half (round to nearest even).
        "expected_f16kv": reference_attention(q, k.half().float(), v.half().float()),
    }, shape_metadata(n_tokens, n_heads, n_kv_heads, head_dim, scale=scale))


def gen_window(name, n_tokens, n_heads, n_kv_heads, head_dim, window):
    q, k, v = qkv(n_tokens, n_heads, n_kv_heads, head_dim)
    write_golden(name, {
        "q": q, "k": k, "v": v,
        "expected": reference_attention(q, k, v, window=window),
        "expected_noncausal": reference_attention(q, k, v, causal=False, window=window),
        "expected_f16kv": reference_attention(q, k.half().float(), v.half().float(), window=window),
    }, shape_metadata(n_tokens, n_heads, n_kv_heads, head_dim, sliding_window=window))


def gen_alibi(n_heads, n_kv_heads, n_tokens=20, head_dim=8):
    slopes = alibi_slopes(n_heads)
    q, k, v = qkv(n_tokens, n_heads, n_kv_heads, head_dim)
    write_golden(f"alibi_{n_heads}", {
        "slopes": torch.tensor(slopes, dtype=torch.float32),
        "q": q, "k": k, "v": v,
        "expected": reference_attention(q, k, v, slopes=slopes),
    }, shape_metadata(n_tokens, n_heads, n_kv_heads, head_dim))


def gen_bias(n_tokens=12, dim=32, n_heads=4, n_kv_heads=2, head_dim=8):
    """A whole attention block with biased q/k/v/o projections (as in Qwen2 / GPT-2)."""
    x = torch.randn(n_tokens, dim)
    wq, bq = torch.randn(n_heads * head_dim, dim) * 0.2, torch.randn(n_heads * head_dim)
    wk, bk = torch.randn(n_kv_heads * head_dim, dim) * 0.2, torch.randn(n_kv_heads * head_dim)
    wv, bv = torch.randn(n_kv_heads * head_dim, dim) * 0.2, torch.randn(n_kv_heads * head_dim)
    wo, bo = torch.randn(dim, n_heads * head_dim) * 0.2, torch.randn(dim)
    q = torch.nn.functional.linear(x, wq, bq).view(n_tokens, n_heads, head_dim)
    k = torch.nn.functional.linear(x, wk, bk).view(n_tokens, n_kv_heads, head_dim)
    v = torch.nn.functional.linear(x, wv, bv).view(n_tokens, n_kv_heads, head_dim)
    expected = torch.nn.functional.linear(reference_attention(q, k, v), wo, bo)
    write_golden("attention_bias", {
        "x": x, "wq": wq, "bq": bq, "wk": wk, "bk": bk, "wv": wv, "bv": bv, "wo": wo, "bo": bo,
        "expected": expected,
    }, shape_metadata(n_tokens, n_heads, n_kv_heads, head_dim, dim=dim))


def main():
    torch.manual_seed(1234)
    gen_plain("attention_mha", n_tokens=24, n_heads=4, n_kv_heads=4, head_dim=16)
    gen_plain("attention_gqa", n_tokens=37, n_heads=8, n_kv_heads=2, head_dim=32)
    gen_plain("attention_mqa", n_tokens=17, n_heads=6, n_kv_heads=1, head_dim=20)
    gen_window("attention_window", n_tokens=40, n_heads=4, n_kv_heads=2, head_dim=16, window=8)
    gen_alibi(8, 8)
    gen_alibi(12, 4)
    gen_bias()


if __name__ == "__main__":
    main()
