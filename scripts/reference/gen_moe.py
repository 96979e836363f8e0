"""Goldens for tests/test_moe.cpp.

Mixtral routing (Jiang et al. 2024; HF MixtralSparseMoeBlock semantics): softmax over the
router logits, top-k, optional renormalisation, weighted sum of the chosen experts'
SwiGLU outputs. Computed densely here: every expert on every token, weighted by a
(tokens, experts) matrix that is zero outside each token's top-k.

Switch routing (Fedus et al. 2021): top-1 with expert capacity floor(T / E * capacity
factor), computed with the dispatch / combine tensors of the paper's Mesh TensorFlow code:
a token's slot in its expert is its rank among the tokens that chose that expert (block
order); tokens beyond the capacity get no slot, hence an output of exactly 0.
Writes tests/data/moe_*.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_moe.py
"""
import math

import torch
import torch.nn.functional as F

from golden import write_golden


def make_experts(n_experts, dim, ffn_dim, gated):
    experts = []
    for _ in range(n_experts):
        e = {"up": torch.randn(ffn_dim, dim) / math.sqrt(dim), "down": torch.randn(dim, ffn_dim) / math.sqrt(ffn_dim)}
        if gated:
            e["gate"] = torch.randn(ffn_dim, dim) / math.sqrt(dim)
        experts.append(e)
    return experts


def expert_ffn(e, x, gated):
    x = x.double()
    if gated:  # SwiGLU
        return (F.silu(x @ e["gate"].double().T) * (x @ e["up"].double().T)) @ e["down"].double().T
    return F.relu(x @ e["up"].double().T) @ e["down"].double().T


def tensors_of(router, experts, x):
    t = {"router": router, "x": x}
    for i, e in enumerate(experts):
        for k, v in e.items():
            t[f"expert{i}.{k}"] = v
    return t


def mixtral(router, experts, x, top_k, renormalize):
    probs = torch.softmax(x.double() @ router.double().T, dim=-1)  # (T, E)
    top_p, top_i = torch.topk(probs, top_k, dim=-1)
    if renormalize:
        top_p = top_p / top_p.sum(dim=-1, keepdim=True)
    dense = torch.zeros_like(probs).scatter(1, top_i, top_p)  # (T, E)
    outputs = torch.stack([expert_ffn(e, x, True) for e in experts], dim=1)  # (T, E, D)
    return torch.einsum("te,ted->td", dense, outputs).float(), top_i


def switch(router, experts, x, capacity_factor):
    n_tokens, n_experts = x.shape[0], router.shape[0]
    capacity = math.floor(n_tokens / n_experts * capacity_factor)
    probs = torch.softmax(x.double() @ router.double().T, dim=-1)
    gate, expert = probs.max(dim=-1)
    mask = F.one_hot(expert, n_experts).double()  # (T, E)
    slot = torch.cumsum(mask, dim=0) * mask - 1  # rank within the chosen expert, -1 elsewhere
    mask = mask * (slot < capacity)
    slot_one_hot = F.one_hot(slot.clamp(0, capacity - 1).long(), capacity).double()  # (T, E, C), masked below
    combine = gate.view(-1, 1, 1) * mask.unsqueeze(-1) * slot_one_hot
    dispatch = (combine > 0).double()
    expert_inputs = torch.einsum("tec,td->ecd", dispatch, x.double())  # (E, C, D)
    expert_outputs = torch.stack([expert_ffn(experts[e], expert_inputs[e], False) for e in range(n_experts)])
    out = torch.einsum("tec,ecd->td", combine, expert_outputs)
    dropped = int(n_tokens - mask.sum().item())
    return out.float(), dropped, capacity


def main():
    torch.manual_seed(2024)
    dim, ffn_dim, n_experts, n_tokens = 16, 24, 8, 10
    router = torch.randn(n_experts, dim)
    experts = make_experts(n_experts, dim, ffn_dim, gated=True)
    x = torch.randn(n_tokens, dim)
    for renormalize in (True, False):
        out, chosen = mixtral(router, experts, x, 2, renormalize)
        write_golden(f"moe_mixtral_top2{'_renorm' if renormalize else ''}",
                     {**tensors_of(router, experts, x), "out": out, "chosen": chosen},
                     {"n_experts": n_experts, "top_k": 2, "renormalize": int(renormalize), "dim": dim,
                      "n_tokens": n_tokens})

    n_experts, n_tokens, capacity_factor = 4, 12, 1.0
    router = torch.randn(n_experts, dim)
    experts = make_experts(n_experts, dim, ffn_dim, gated=False)
    # A shared direction in the inputs makes expert 0's router row popular, so it overflows.
    x = torch.randn(n_tokens, dim) + 0.8 * router[0] / router[0].norm() * 3
    out, dropped, capacity = switch(router, experts, x, capacity_factor)
    assert 0 < dropped < n_tokens, dropped
    write_golden("moe_switch", {**tensors_of(router, experts, x), "out": out},
                 {"n_experts": n_experts, "capacity_factor": capacity_factor, "capacity": capacity,
                  "dropped": dropped, "dim": dim, "n_tokens": n_tokens})
    print("switch: capacity", capacity, "dropped", dropped)


if __name__ == "__main__":
    main()
