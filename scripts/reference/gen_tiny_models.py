"""Tiny random Llama-family models in Hugging Face layout, and their logits.

Written from the published model definitions (Hugging Face transformers' modeling_llama,
modeling_mistral, modeling_mixtral, modeling_qwen2), independently of llmpp:
  - RMSNorm in fp32; RoPE in HF's rotate_half layout (q/k rows are stored permuted that way);
  - GQA by repeating KV heads (Ainslie et al. 2023);
  - Mistral: sliding-window causal mask, key j visible to query i iff i - window < j <= i;
  - Mixtral: router softmax, top-2, renormalised, SwiGLU experts (Jiang et al. 2024);
  - Qwen2: q/k/v biases, tied embeddings.
For each model it writes tests/data/tiny_models/<name>/{config.json, model.safetensors}
and tests/data/tiny_models/<name>/reference.safetensors holding the 64 input tokens, the
logits of every position (64, vocab), and a 32-token greedy continuation.

Run: /usr/bin/python3 scripts/reference/gen_tiny_models.py
"""
import json
import math
import os

import torch

from golden import DATA_DIR, write_safetensors

SEQ_LEN = 64
N_GREEDY = 32

BASE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=96, rms_norm_eps=1e-5, rope_theta=10000.0,
            max_position_embeddings=256, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)

MODELS = {
    "llama_gqa": dict(architectures=["LlamaForCausalLM"], model_type="llama"),
    "mistral_window": dict(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=16),
    "mixtral_moe": dict(architectures=["MixtralForCausalLM"], model_type="mixtral", num_local_experts=8,
                        num_experts_per_tok=2, intermediate_size=48),
    "qwen2_bias": dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_theta=1000000.0,
                       tie_word_embeddings=True, use_sliding_window=False),
}


def make_weights(cfg, gen):
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    h, kvh = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // h

    def rnd(*shape, scale=None):
        scale = scale if scale is not None else 1.0 / math.sqrt(shape[-1])
        return torch.randn(*shape, generator=gen) * scale

    w = {"model.embed_tokens.weight": rnd(v, d, scale=1.0),
         "model.norm.weight": 1.0 + 0.1 * rnd(d, scale=1.0)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(v, d)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = 1.0 + 0.1 * rnd(d, scale=1.0)
        w[p + "post_attention_layernorm.weight"] = 1.0 + 0.1 * rnd(d, scale=1.0)
        w[p + "self_attn.q_proj.weight"] = rnd(h * hd, d)
        w[p + "self_attn.k_proj.weight"] = rnd(kvh * hd, d)
        w[p + "self_attn.v_proj.weight"] = rnd(kvh * hd, d)
        w[p + "self_attn.o_proj.weight"] = rnd(d, h * hd)
        if cfg["model_type"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = 0.1 * rnd(h * hd, scale=1.0)
            w[p + "self_attn.k_proj.bias"] = 0.1 * rnd(kvh * hd, scale=1.0)
            w[p + "self_attn.v_proj.bias"] = 0.1 * rnd(kvh * hd, scale=1.0)
        if cfg["model_type"] == "mixtral":
            w[p + "block_sparse_moe.gate.weight"] = rnd(cfg["num_local_experts"], d)
            for e in range(cfg["num_local_experts"]):
                q = p + f"block_sparse_moe.experts.{e}."
                w[q + "w1.weight"] = rnd(f, d)
                w[q + "w3.weight"] = rnd(f, d)
                w[q + "w2.weight"] = rnd(d, f)
        else:
            w[p + "mlp.gate_proj.weight"] = rnd(f, d)
            w[p + "mlp.up_proj.weight"] = rnd(f, d)
            w[p + "mlp.down_proj.weight"] = rnd(d, f)
    return w


def rms_norm(x, weight, eps):
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, tokens):
    """Logits (T, vocab) of a whole sequence, computed in one pass."""
    d, v = cfg["hidden_size"], cfg["vocab_size"]
    h, kvh = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // h
    T = tokens.shape[0]
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    pos = torch.arange(T, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()  # (T, hd)

    i = torch.arange(T).unsqueeze(1)
    j = torch.arange(T).unsqueeze(0)
    visible = j <= i
    window = cfg.get("sliding_window")
    if window and cfg.get("use_sliding_window", True):
        visible = visible & (j > i - window)
    mask = torch.zeros(T, T).masked_fill(~visible, float("-inf"))

    x = w["model.embed_tokens.weight"][tokens]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        xn = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def proj(name):
            y = xn @ w[p + f"self_attn.{name}.weight"].T
            bias = w.get(p + f"self_attn.{name}.bias")
            return y + bias if bias is not None else y

        q = proj("q_proj").view(T, h, hd).transpose(0, 1)    # (h, T, hd)
        k = proj("k_proj").view(T, kvh, hd).transpose(0, 1)  # (kvh, T, hd)
        val = proj("v_proj").view(T, kvh, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(h // kvh, dim=0)
        val = val.repeat_interleave(h // kvh, dim=0)
        scores = q @ k.transpose(1, 2) / math.sqrt(hd) + mask
        attn = torch.softmax(scores.float(), dim=-1) @ val  # (h, T, hd)
        attn = attn.transpose(0, 1).reshape(T, h * hd)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T

        xn = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        if cfg["model_type"] == "mixtral":
            router = torch.softmax(xn @ w[p + "block_sparse_moe.gate.weight"].T, dim=-1)
            top_w, top_e = torch.topk(router, cfg["num_experts_per_tok"], dim=-1)
            top_w = top_w / top_w.sum(-1, keepdim=True)
            out = torch.zeros_like(xn)
            for t in range(T):
                for slot in range(cfg["num_experts_per_tok"]):
                    q_ = p + f"block_sparse_moe.experts.{int(top_e[t, slot])}."
                    hidden = torch.nn.functional.silu(xn[t] @ w[q_ + "w1.weight"].T) * (xn[t] @ w[q_ + "w3.weight"].T)
                    out[t] += top_w[t, slot] * (hidden @ w[q_ + "w2.weight"].T)
            x = x + out
        else:
            hidden = torch.nn.functional.silu(xn @ w[p + "mlp.gate_proj.weight"].T) * (xn @ w[p + "mlp.up_proj.weight"].T)
            x = x + hidden @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return x @ head.T


def main():
    torch.set_grad_enabled(False)
    for index, (name, extra) in enumerate(MODELS.items()):
        cfg = dict(BASE)
        cfg.update(extra)
        gen = torch.Generator().manual_seed(1000 + index)
        w = make_weights(cfg, gen)
        tokens = torch.randint(3, cfg["vocab_size"], (SEQ_LEN,), generator=gen)
        tokens[0] = cfg["bos_token_id"]
        logits = forward(cfg, w, tokens)
        # Greedy continuation after the first 16 tokens, recomputing the whole prefix each step.
        seq = tokens[:16].tolist()
        for _ in range(N_GREEDY):
            seq.append(int(forward(cfg, w, torch.tensor(seq))[-1].argmax()))
        folder = os.path.join(DATA_DIR, "tiny_models", name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        write_safetensors(os.path.join(folder, "model.safetensors"), w, {"format": "pt"})
        write_safetensors(os.path.join(folder, "reference.safetensors"),
                          {"tokens": tokens.to(torch.int64), "logits": logits.float(),
                           "greedy_prompt": tokens[:16].to(torch.int64),
                           "greedy_tokens": torch.tensor(seq[16:], dtype=torch.int64)})
        print(name, "logits", tuple(logits.shape), "max |logit|", float(logits.abs().max()))


if __name__ == "__main__":
    main()
