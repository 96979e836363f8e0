"""Tiny random GPT-2, OPT, BLOOM, Falcon, Phi-3 and Gemma models in Hugging Face layout,
and their logits.

Written from the published model definitions (Hugging Face transformers' modeling_gpt2,
modeling_opt, modeling_bloom, modeling_falcon, modeling_phi3, modeling_gemma), in plain
torch and independently of llmpp. Every model uses its family's real config.json keys and
tensor names and stores its tensors the way the family does:
  - GPT-2: Conv1D weights as (in, out), fused c_attn, learned positions, tanh GELU, tied head;
  - OPT: learned positions read at position + 2, ReLU, biases; `opt` is 125M-style
    (pre-norm), `opt_350m` post-norm with word_embed_proj_dim < hidden_size (project_in/out);
  - BLOOM: ALiBi (Press et al. 2021) with 6 heads (not a power of two), embedding LayerNorm,
    query_key_value interleaved per head as (n_head, 3, head_dim);
  - Falcon: `falcon` 7B-style (multi_query, one LayerNorm, parallel attention + MLP),
    `falcon_40b` new_decoder_architecture (GQA, ln_attn + ln_mlp, fused qkv grouped as
    (n_kv_heads, heads_per_kv + 2, head_dim));
  - Phi-3: fused qkv_proj and gate_up_proj, LongRoPE (`su`) with a sequence beyond the
    original context, so the long factors and sqrt(1 + ln s / ln L0) scaling apply;
  - Gemma: embedding * sqrt(hidden), RMSNorm by (1 + w), GeGLU (tanh), head_dim != hidden / heads.
For each model: tests/data/tiny_models/<name>/{config.json, model.safetensors, reference.safetensors}
with the 64 input tokens, the logits of every position, and a greedy continuation of 32
tokens (the prefix is recomputed whole at every step).

Run: /usr/bin/python3 scripts/reference/gen_families.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from golden import DATA_DIR, write_safetensors

SEQ_LEN = 64
N_GREEDY = 32
VOCAB = 96


def rnd(gen, *shape, scale=None):
    scale = scale if scale is not None else 1.0 / math.sqrt(shape[-1])
    return torch.randn(*shape, generator=gen) * scale


def norm_weight(gen, n):
    return 1.0 + 0.1 * rnd(gen, n, scale=1.0)


def bias(gen, n):
    return 0.1 * rnd(gen, n, scale=1.0)


def layer_norm(x, w, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), w[prefix + ".weight"], w.get(prefix + ".bias"), eps)


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def linear(x, w, prefix):
    y = x @ w[prefix + ".weight"].T
    b = w.get(prefix + ".bias")
    return y + b if b is not None else y


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(T, head_dim, theta, ext_factors=None, scale=1.0):
    """cos, sin (T, head_dim) in HF's rotate_half layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if ext_factors is not None:
        inv_freq = inv_freq / torch.tensor(ext_factors, dtype=torch.float64)
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * scale).float(), (emb.sin() * scale).float()


def attend(q, k, v, bias_scores=None):
    """q (h, T, hd), k/v (kvh, T, hd) -> (T, h*hd); causal, GQA by repeating KV heads."""
    h, T, hd = q.shape
    k = k.repeat_interleave(h // k.shape[0], dim=0)
    v = v.repeat_interleave(h // v.shape[0], dim=0)
    scores = q @ k.transpose(1, 2) / math.sqrt(hd)
    if bias_scores is not None:
        scores = scores + bias_scores
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(T, -1)


def heads(x, n):
    """(T, n*hd) -> (n, T, hd)"""
    return x.view(x.shape[0], n, -1).transpose(0, 1)


# ---- GPT-2 --------------------------------------------------------------------------------

def gpt2_weights(cfg, gen):
    d, f = cfg["n_embd"], cfg["n_inner"]
    w = {"transformer.wte.weight": rnd(gen, VOCAB, d, scale=1.0),
         "transformer.wpe.weight": rnd(gen, cfg["n_positions"], d, scale=0.3),
         "transformer.ln_f.weight": norm_weight(gen, d), "transformer.ln_f.bias": bias(gen, d)}
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        for name, (n_in, n_out) in {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d),
                                    "mlp.c_fc": (d, f), "mlp.c_proj": (f, d)}.items():
            w[p + name + ".weight"] = rnd(gen, n_in, n_out, scale=1.0 / math.sqrt(n_in))  # Conv1D: (in, out)
            w[p + name + ".bias"] = bias(gen, n_out)
        for ln in ("ln_1", "ln_2"):
            w[p + ln + ".weight"] = norm_weight(gen, d)
            w[p + ln + ".bias"] = bias(gen, d)
    return w


def gpt2_forward(cfg, w, tokens):
    T, d, h, eps = tokens.shape[0], cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]

    def conv1d(x, prefix):
        return x @ w[prefix + ".weight"] + w[prefix + ".bias"]

    x = w["transformer.wte.weight"][tokens] + w["transformer.wpe.weight"][torch.arange(T)]
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        q, k, v = conv1d(layer_norm(x, w, p + "ln_1", eps), p + "attn.c_attn").split(d, dim=-1)
        x = x + conv1d(attend(heads(q, h), heads(k, h), heads(v, h)), p + "attn.c_proj")
        hidden = gelu_tanh(conv1d(layer_norm(x, w, p + "ln_2", eps), p + "mlp.c_fc"))
        x = x + conv1d(hidden, p + "mlp.c_proj")
    return layer_norm(x, w, "transformer.ln_f", eps) @ w["transformer.wte.weight"].T


# ---- OPT ----------------------------------------------------------------------------------

def opt_weights(cfg, gen):
    d, f, e = cfg["hidden_size"], cfg["ffn_dim"], cfg["word_embed_proj_dim"]
    p0 = "model.decoder."
    w = {p0 + "embed_tokens.weight": rnd(gen, VOCAB, e, scale=1.0),
         p0 + "embed_positions.weight": rnd(gen, cfg["max_position_embeddings"] + 2, d, scale=0.3)}
    if e != d:
        w[p0 + "project_in.weight"] = rnd(gen, d, e)
        w[p0 + "project_out.weight"] = rnd(gen, e, d)
    if cfg["do_layer_norm_before"]:
        w[p0 + "final_layer_norm.weight"] = norm_weight(gen, d)
        w[p0 + "final_layer_norm.bias"] = bias(gen, d)
    for l in range(cfg["num_hidden_layers"]):
        p = p0 + f"layers.{l}."
        for name, (n_out, n_in) in {"self_attn.q_proj": (d, d), "self_attn.k_proj": (d, d),
                                    "self_attn.v_proj": (d, d), "self_attn.out_proj": (d, d),
                                    "fc1": (f, d), "fc2": (d, f)}.items():
            w[p + name + ".weight"] = rnd(gen, n_out, n_in)
            w[p + name + ".bias"] = bias(gen, n_out)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            w[p + ln + ".weight"] = norm_weight(gen, d)
            w[p + ln + ".bias"] = bias(gen, d)
    return w


def opt_forward(cfg, w, tokens):
    T, h, pre = tokens.shape[0], cfg["num_attention_heads"], cfg["do_layer_norm_before"]
    p0 = "model.decoder."
    x = w[p0 + "embed_tokens.weight"][tokens]
    if p0 + "project_in.weight" in w:
        x = x @ w[p0 + "project_in.weight"].T
    x = x + w[p0 + "embed_positions.weight"][torch.arange(T) + 2]  # OPTLearnedPositionalEmbedding offset

    for l in range(cfg["num_hidden_layers"]):
        p = p0 + f"layers.{l}."

        def attention(y):
            q, k, v = (linear(y, w, p + f"self_attn.{n}_proj") for n in "qkv")
            return linear(attend(heads(q, h), heads(k, h), heads(v, h)), w, p + "self_attn.out_proj")

        def mlp(y):
            return linear(torch.relu(linear(y, w, p + "fc1")), w, p + "fc2")

        if pre:
            x = x + attention(layer_norm(x, w, p + "self_attn_layer_norm", 1e-5))
            x = x + mlp(layer_norm(x, w, p + "final_layer_norm", 1e-5))
        else:  # OPT 350M: post-norm
            x = layer_norm(x + attention(x), w, p + "self_attn_layer_norm", 1e-5)
            x = layer_norm(x + mlp(x), w, p + "final_layer_norm", 1e-5)
    if pre:
        x = layer_norm(x, w, p0 + "final_layer_norm", 1e-5)
    if p0 + "project_out.weight" in w:
        x = x @ w[p0 + "project_out.weight"].T
    return x @ w[p0 + "embed_tokens.weight"].T


# ---- BLOOM --------------------------------------------------------------------------------

def bloom_weights(cfg, gen):
    d = cfg["hidden_size"]
    w = {"transformer.word_embeddings.weight": rnd(gen, VOCAB, d, scale=1.0)}
    for ln in ("transformer.word_embeddings_layernorm", "transformer.ln_f"):
        w[ln + ".weight"] = norm_weight(gen, d)
        w[ln + ".bias"] = bias(gen, d)
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        for name, (n_out, n_in) in {"self_attention.query_key_value": (3 * d, d), "self_attention.dense": (d, d),
                                    "mlp.dense_h_to_4h": (4 * d, d), "mlp.dense_4h_to_h": (d, 4 * d)}.items():
            w[p + name + ".weight"] = rnd(gen, n_out, n_in)
            w[p + name + ".bias"] = bias(gen, n_out)
        for ln in ("input_layernorm", "post_attention_layernorm"):
            w[p + ln + ".weight"] = norm_weight(gen, d)
            w[p + ln + ".bias"] = bias(gen, d)
    return w


def alibi_slopes(n_heads):
    """BLOOM's build_alibi_tensor slopes (Press et al. 2021, with the odd-power fill-in)."""
    closest = 2 ** math.floor(math.log2(n_heads))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = [base ** i for i in range(1, closest + 1)]
    if closest != n_heads:
        extra_base = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        slopes += [extra_base ** i for i in range(1, 2 * min(closest, n_heads - closest) + 1, 2)]
    return torch.tensor(slopes)


def bloom_forward(cfg, w, tokens):
    T, d, h, eps = tokens.shape[0], cfg["hidden_size"], cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = d // h
    alibi = alibi_slopes(h).view(h, 1, 1) * torch.arange(T).view(1, 1, T)  # slope * key position
    x = layer_norm(w["transformer.word_embeddings.weight"][tokens], w, "transformer.word_embeddings_layernorm", eps)
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}."
        fused = linear(layer_norm(x, w, p + "input_layernorm", eps), w, p + "self_attention.query_key_value")
        fused = fused.view(T, h, 3, hd)  # per head: q, k, v
        q, k, v = (fused[:, :, i].transpose(0, 1) for i in range(3))
        x = x + linear(attend(q, k, v, alibi), w, p + "self_attention.dense")
        hidden = gelu_tanh(linear(layer_norm(x, w, p + "post_attention_layernorm", eps), w, p + "mlp.dense_h_to_4h"))
        x = x + linear(hidden, w, p + "mlp.dense_4h_to_h")
    return layer_norm(x, w, "transformer.ln_f", eps) @ w["transformer.word_embeddings.weight"].T


# ---- Falcon -------------------------------------------------------------------------------

def falcon_kv_heads(cfg):
    if cfg["new_decoder_architecture"]:
        return cfg["num_kv_heads"]
    return 1 if cfg["multi_query"] else cfg["num_attention_heads"]


def falcon_weights(cfg, gen):
    d, h = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, kvh = d // h, falcon_kv_heads(cfg)
    w = {"transformer.word_embeddings.weight": rnd(gen, VOCAB, d, scale=1.0),
         "transformer.ln_f.weight": norm_weight(gen, d), "transformer.ln_f.bias": bias(gen, d),
         "lm_head.weight": rnd(gen, VOCAB, d)}
    lns = ("ln_attn", "ln_mlp") if cfg["new_decoder_architecture"] else ("input_layernorm",)
    for l in range(cfg["num_hidden_layers"]):
        p = f"transformer.h.{l}."
        w[p + "self_attention.query_key_value.weight"] = rnd(gen, (h + 2 * kvh) * hd, d)
        w[p + "self_attention.dense.weight"] = rnd(gen, d, d)
        w[p + "mlp.dense_h_to_4h.weight"] = rnd(gen, 4 * d, d)
        w[p + "mlp.dense_4h_to_h.weight"] = rnd(gen, d, 4 * d)
        for ln in lns:
            w[p + ln + ".weight"] = norm_weight(gen, d)
            w[p + ln + ".bias"] = bias(gen, d)
    return w


def falcon_forward(cfg, w, tokens):
    T, d, h, eps = tokens.shape[0], cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_epsilon"]
    hd, kvh = d // h, falcon_kv_heads(cfg)
    cos, sin = rope_cos_sin(T, hd, cfg["rope_theta"])
    x = w["transformer.word_embeddings.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        p = f"transformer.h.{l}."
        if cfg["new_decoder_architecture"]:
            attn_in, mlp_in = layer_norm(x, w, p + "ln_attn", eps), layer_norm(x, w, p + "ln_mlp", eps)
        else:
            attn_in = mlp_in = layer_norm(x, w, p + "input_layernorm", eps)
        fused = attn_in @ w[p + "self_attention.query_key_value.weight"].T
        if cfg["new_decoder_architecture"]:
            fused = fused.view(T, kvh, h // kvh + 2, hd)  # per KV group: its query heads, k, v
            q = fused[:, :, :-2].reshape(T, h, hd)
            k, v = fused[:, :, -2], fused[:, :, -1]
        else:  # multi_query: all query heads, then the one k, then the one v
            fused = fused.view(T, h + 2, hd)
            q, k, v = fused[:, :h], fused[:, h:h + 1], fused[:, h + 1:]
        q, k, v = (t.transpose(0, 1) for t in (q, k, v))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        attn_out = attend(q, k, v) @ w[p + "self_attention.dense.weight"].T
        mlp_out = F.gelu(mlp_in @ w[p + "mlp.dense_h_to_4h.weight"].T) @ w[p + "mlp.dense_4h_to_h.weight"].T
        x = x + attn_out + mlp_out
    return layer_norm(x, w, "transformer.ln_f", eps) @ w["lm_head.weight"].T


# ---- Phi-3 --------------------------------------------------------------------------------

def phi3_weights(cfg, gen):
    d, f, h, kvh = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // h
    w = {"model.embed_tokens.weight": rnd(gen, VOCAB, d, scale=1.0), "model.norm.weight": norm_weight(gen, d),
         "lm_head.weight": rnd(gen, VOCAB, d)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm_weight(gen, d)
        w[p + "post_attention_layernorm.weight"] = norm_weight(gen, d)
        w[p + "self_attn.qkv_proj.weight"] = rnd(gen, (h + 2 * kvh) * hd, d)
        w[p + "self_attn.o_proj.weight"] = rnd(gen, d, h * hd)
        w[p + "mlp.gate_up_proj.weight"] = rnd(gen, 2 * f, d)
        w[p + "mlp.down_proj.weight"] = rnd(gen, d, f)
    return w


def phi3_forward(cfg, w, tokens):
    T, d, f = tokens.shape[0], cfg["hidden_size"], cfg["intermediate_size"]
    h, kvh, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    hd = d // h
    # Phi3SuScaledRotaryEmbedding: long factors beyond the original context, cos/sin scaled.
    original = cfg["original_max_position_embeddings"]
    rs = cfg["rope_scaling"]
    factors = rs["long_factor"] if T > original else rs["short_factor"]
    s = cfg["max_position_embeddings"] / original
    scale = 1.0 if s <= 1.0 else math.sqrt(1 + math.log(s) / math.log(original))
    cos, sin = rope_cos_sin(T, hd, cfg["rope_theta"], factors, scale)
    x = w["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        qkv = rms_norm(x, w[p + "input_layernorm.weight"], eps) @ w[p + "self_attn.qkv_proj.weight"].T
        q, k, v = heads(qkv[:, :h * hd], h), heads(qkv[:, h * hd:(h + kvh) * hd], kvh), heads(qkv[:, (h + kvh) * hd:], kvh)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        x = x + attend(q, k, v) @ w[p + "self_attn.o_proj.weight"].T
        gate, up = (rms_norm(x, w[p + "post_attention_layernorm.weight"], eps) @ w[p + "mlp.gate_up_proj.weight"].T).chunk(2, dim=-1)
        x = x + (F.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"], eps) @ w["lm_head.weight"].T


# ---- Gemma --------------------------------------------------------------------------------

def gemma_weights(cfg, gen):
    d, f, h, kvh, hd = (cfg[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads",
                                         "num_key_value_heads", "head_dim"))
    w = {"model.embed_tokens.weight": rnd(gen, VOCAB, d, scale=0.3), "model.norm.weight": bias(gen, d)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = bias(gen, d)  # Gemma stores w - 1
        w[p + "post_attention_layernorm.weight"] = bias(gen, d)
        w[p + "self_attn.q_proj.weight"] = rnd(gen, h * hd, d)
        w[p + "self_attn.k_proj.weight"] = rnd(gen, kvh * hd, d)
        w[p + "self_attn.v_proj.weight"] = rnd(gen, kvh * hd, d)
        w[p + "self_attn.o_proj.weight"] = rnd(gen, d, h * hd)
        w[p + "mlp.gate_proj.weight"] = rnd(gen, f, d)
        w[p + "mlp.up_proj.weight"] = rnd(gen, f, d)
        w[p + "mlp.down_proj.weight"] = rnd(gen, d, f)
    return w


def gemma_forward(cfg, w, tokens):
    T, d, eps = tokens.shape[0], cfg["hidden_size"], cfg["rms_norm_eps"]
    h, kvh, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    cos, sin = rope_cos_sin(T, hd, cfg["rope_theta"])

    def norm(y, name):
        return rms_norm(y, 1.0 + w[name], eps)

    x = w["model.embed_tokens.weight"][tokens] * torch.tensor(d ** 0.5)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        y = norm(x, p + "input_layernorm.weight")
        q = heads(y @ w[p + "self_attn.q_proj.weight"].T, h)
        k = heads(y @ w[p + "self_attn.k_proj.weight"].T, kvh)
        v = heads(y @ w[p + "self_attn.v_proj.weight"].T, kvh)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        x = x + attend(q, k, v) @ w[p + "self_attn.o_proj.weight"].T
        y = norm(x, p + "post_attention_layernorm.weight")
        hidden = gelu_tanh(y @ w[p + "mlp.gate_proj.weight"].T) * (y @ w[p + "mlp.up_proj.weight"].T)
        x = x + hidden @ w[p + "mlp.down_proj.weight"].T
    return norm(x, "model.norm.weight") @ w["model.embed_tokens.weight"].T


# ---- the models ---------------------------------------------------------------------------

COMMON = dict(vocab_size=VOCAB)

MODELS = {
    "gpt2": (dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", n_embd=32, n_layer=2, n_head=4, n_inner=64,
                  n_positions=128, layer_norm_epsilon=1e-5, activation_function="gelu_new", bos_token_id=1,
                  eos_token_id=2), gpt2_weights, gpt2_forward, 16),
    "opt": (dict(architectures=["OPTForCausalLM"], model_type="opt", hidden_size=32, num_hidden_layers=2,
                 num_attention_heads=4, ffn_dim=64, max_position_embeddings=128, do_layer_norm_before=True,
                 word_embed_proj_dim=32, activation_function="relu", enable_bias=True, bos_token_id=2,
                 eos_token_id=2), opt_weights, opt_forward, 16),
    "opt_350m": (dict(architectures=["OPTForCausalLM"], model_type="opt", hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, ffn_dim=64, max_position_embeddings=128, do_layer_norm_before=False,
                      word_embed_proj_dim=16, activation_function="relu", enable_bias=True, bos_token_id=2,
                      eos_token_id=2), opt_weights, opt_forward, 16),
    "bloom": (dict(architectures=["BloomForCausalLM"], model_type="bloom", hidden_size=48, n_layer=2, n_head=6,
                   layer_norm_epsilon=1e-5, apply_residual_connection_post_layernorm=False, bos_token_id=1,
                   eos_token_id=2), bloom_weights, bloom_forward, 16),
    "falcon": (dict(architectures=["FalconForCausalLM"], model_type="falcon", hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, multi_query=True, parallel_attn=True, new_decoder_architecture=False,
                    bias=False, alibi=False, layer_norm_epsilon=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                    max_position_embeddings=256, bos_token_id=1, eos_token_id=2), falcon_weights, falcon_forward, 16),
    "falcon_40b": (dict(architectures=["FalconForCausalLM"], model_type="falcon", hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, num_kv_heads=2, new_decoder_architecture=True, parallel_attn=True,
                        bias=False, alibi=False, layer_norm_epsilon=1e-5, rope_theta=10000.0,
                        tie_word_embeddings=False, max_position_embeddings=256, bos_token_id=1, eos_token_id=2),
                   falcon_weights, falcon_forward, 16),
    # The greedy prompt (40 tokens) is already past the original context (32), so every
    # step uses the long factors, as a cached run does.
    "phi3": (dict(architectures=["Phi3ForCausalLM"], model_type="phi3", hidden_size=32, intermediate_size=64,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_act="silu",
                  max_position_embeddings=128, original_max_position_embeddings=32, rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False, sliding_window=None, bos_token_id=1, eos_token_id=2,
                  rope_scaling=dict(type="su", short_factor=[1.0, 1.1, 1.3, 1.6], long_factor=[1.0, 1.5, 2.5, 4.0])),
             phi3_weights, phi3_forward, 40),
    "gemma": (dict(architectures=["GemmaForCausalLM"], model_type="gemma", hidden_size=32, intermediate_size=64,
                   num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh", max_position_embeddings=256,
                   rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True, bos_token_id=2, eos_token_id=1),
              gemma_weights, gemma_forward, 16),
}


def main():
    torch.set_grad_enabled(False)
    for index, (name, (extra, make_weights, forward, prompt_len)) in enumerate(MODELS.items()):
        cfg = dict(COMMON)
        cfg.update(extra)
        gen = torch.Generator().manual_seed(2000 + index)
        w = make_weights(cfg, gen)
        tokens = torch.randint(3, VOCAB, (SEQ_LEN,), generator=gen)
        logits = forward(cfg, w, tokens)
        seq = tokens[:prompt_len].tolist()
        for _ in range(N_GREEDY):
            seq.append(int(forward(cfg, w, torch.tensor(seq))[-1].argmax()))
        folder = os.path.join(DATA_DIR, "tiny_models", name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        write_safetensors(os.path.join(folder, "model.safetensors"), w, {"format": "pt"})
        write_safetensors(os.path.join(folder, "reference.safetensors"),
                          {"tokens": tokens.to(torch.int64), "logits": logits.float(),
                           "greedy_prompt": tokens[:prompt_len].to(torch.int64),
                           "greedy_tokens": torch.tensor(seq[prompt_len:], dtype=torch.int64)})
        print(name, "logits", tuple(logits.shape), "max |logit|", float(logits.abs().max()))


if __name__ == "__main__":
    main()
