"""Goldens for tests/test_feed_forward.cpp: feed-forward blocks built from torch.nn.Linear
and torch.nn.functional activations, in float64.
  gated (Shazeer 2020): down(act(gate(x)) * up(x)), SwiGLU (silu) and GeGLU (tanh GELU),
  plain: down(act(up(x))) with GELU (erf), GELU (tanh) and ReLU,
each with and without biases on all three projections.
Writes tests/data/ffn_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_feed_forward.py
"""
import torch
import torch.nn.functional as F

from golden import write_golden

ACTIVATIONS = {
    "silu": F.silu,
    "gelu_erf": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}

# name: (ffn type, activation)
VARIANTS = {
    "swiglu": ("gated", "silu"),
    "geglu": ("gated", "gelu_tanh"),
    "gelu_erf": ("plain", "gelu_erf"),
    "gelu_tanh": ("plain", "gelu_tanh"),
    "relu": ("plain", "relu"),
}


def main():
    torch.manual_seed(2020)
    dim, ffn_dim, n_tokens = 24, 44, 3  # ffn_dim 44: the SIMD activation runs a tail too
    for name, (ffn_type, activation) in VARIANTS.items():
        for bias in (False, True):
            gate = torch.nn.Linear(dim, ffn_dim, bias=bias).double()
            up = torch.nn.Linear(dim, ffn_dim, bias=bias).double()
            down = torch.nn.Linear(ffn_dim, dim, bias=bias).double()
            # Inputs large enough to reach the activations' saturated ends. Everything is
            # rounded to float32 first: the C++ code sees exactly these values.
            x = (torch.randn(n_tokens, dim) * 3.0).double()
            with torch.no_grad():
                for p in list(gate.parameters()) + list(up.parameters()) + list(down.parameters()):
                    p.copy_(p.float().double())
            act = ACTIVATIONS[activation]
            with torch.no_grad():
                hidden = act(gate(x)) * up(x) if ffn_type == "gated" else act(up(x))
                out = down(hidden)
            tensors = {"x": x, "up": up.weight, "down": down.weight, "out": out}
            if ffn_type == "gated":
                tensors["gate"] = gate.weight
            if bias:
                tensors.update(up_bias=up.bias, down_bias=down.bias)
                if ffn_type == "gated":
                    tensors["gate_bias"] = gate.bias
            tensors = {k: v.detach().float() for k, v in tensors.items()}
            write_golden(f"ffn_{name}{'_bias' if bias else ''}", tensors,
                         {"type": ffn_type, "activation": activation, "dim": dim, "ffn_dim": ffn_dim,
                          "n_tokens": n_tokens})


if __name__ == "__main__":
    main()
