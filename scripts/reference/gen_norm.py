"""Goldens for tests/test_norm.cpp: RMSNorm (plain and Gemma's 1 + w) and LayerNorm with
and without bias, written from the papers' formulas (Zhang & Sennrich 2019; Ba et al.
2016) with the semantics of HF's LlamaRMSNorm / GemmaRMSNorm / torch.nn.LayerNorm, in
float64 and rounded to float32 at the end.
Writes tests/data/norm_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_norm.py
"""
import torch

from golden import write_golden


def rms_norm(x, weight, eps, weight_plus_one):
    x64 = x.double()
    inv_rms = torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + eps)
    w = weight.double() + 1.0 if weight_plus_one else weight.double()
    return (x64 * inv_rms * w).float()


def layer_norm(x, weight, bias, eps):
    ln = torch.nn.LayerNorm(x.shape[-1], eps=eps, elementwise_affine=True).double()
    with torch.no_grad():
        ln.weight.copy_(weight.double())
        ln.bias.copy_(bias.double() if bias is not None else torch.zeros_like(weight, dtype=torch.float64))
        return ln(x.double()).float()


def main():
    torch.manual_seed(1234)
    # dim 67 is not a multiple of 8, so the SIMD tails run too.
    for dim in (67, 256):
        n_tokens = 5
        # A non-zero mean and varied scales per token exercise the two-pass variance.
        x = torch.randn(n_tokens, dim) * torch.linspace(0.1, 4.0, n_tokens).view(-1, 1) + 3.0
        weight = torch.randn(dim) * 0.5 + 1.0
        bias = torch.randn(dim) * 0.1
        meta = {"n_tokens": n_tokens, "dim": dim}
        write_golden(f"norm_rms_{dim}", {"x": x, "weight": weight, "out": rms_norm(x, weight, 1e-5, False)},
                     {**meta, "eps": 1e-5})
        write_golden(f"norm_rms_gemma_{dim}", {"x": x, "weight": weight, "out": rms_norm(x, weight, 1e-6, True)},
                     {**meta, "eps": 1e-6})
        write_golden(f"norm_layer_{dim}",
                     {"x": x, "weight": weight, "bias": bias, "out": layer_norm(x, weight, bias, 1e-5)},
                     {**meta, "eps": 1e-5})
        write_golden(f"norm_layer_nobias_{dim}",
                     {"x": x, "weight": weight, "out": layer_norm(x, weight, None, 1e-5)}, {**meta, "eps": 1e-5})


if __name__ == "__main__":
    main()
