#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/fuzz_<target>.cpp) into OUT/<target>/.

usage: gen_fuzz_corpus.py OUT [--shared DIR]

Seeds are small valid files written here by hand from the format specs (GGUF, safetensors,
SentencePiece's ModelProto, llama2.c), shrunk copies of the real files in the shared folder
when it is there, and hostile variants of each (truncations, huge counts and lengths,
overflowing shapes), so that the fuzzers start next to the interesting branches. Nothing
here is committed: scripts/fuzz.sh regenerates the corpus into its build folder.
"""

import argparse
import json
import os
import random
import struct
import sys

# ---------------------------------------------------------------------------------------
# GGUF (github.com/ggml-org/ggml/blob/master/docs/gguf.md): little-endian; header magic
# "GGUF", u32 version, u64 tensor_count, u64 metadata_kv_count; each kv is a string key,
# u32 type and value; each tensor info a string name, u32 n_dims, u64 ne[n_dims], u32 type,
# u64 offset (relative to the aligned start of the data section).

GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, \
    GGUF_U64, GGUF_I64, GGUF_F64 = range(13)
SCALAR_FORMATS = {GGUF_U8: "<B", GGUF_I8: "<b", GGUF_U16: "<H", GGUF_I16: "<h", GGUF_U32: "<I", GGUF_I32: "<i",
                  GGUF_F32: "<f", GGUF_BOOL: "<?", GGUF_U64: "<Q", GGUF_I64: "<q", GGUF_F64: "<d"}
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0 = 0, 1, 2, 8
GGML_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18), GGML_Q8_0: (32, 34)}


def gguf_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, value):
    if vtype == GGUF_STRING:
        return gguf_string(value)
    if vtype == GGUF_ARRAY:
        element_type, items = value
        out = struct.pack("<IQ", element_type, len(items))
        return out + b"".join(gguf_value(element_type, item) for item in items)
    return struct.pack(SCALAR_FORMATS[vtype], value)


def write_gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne list, ggml type, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for key, vtype, value in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + gguf_value(vtype, value)
    offset = 0
    for name, ne, ggml_type, data in tensors:
        out += gguf_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", ggml_type, offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for _, _, _, data in tensors:
        out += data + b"\0" * (-len(data) % alignment)
    return out


def read_gguf_metadata(path):
    """The metadata of a real GGUF as [(key, type, value)] (tensors are not needed)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 24
    _, _, n_kv = struct.unpack_from("<IQQ", data, 4)

    def read_value(vtype):
        nonlocal pos
        if vtype == GGUF_STRING:
            (n,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + n
            return data[pos - n:pos]
        if vtype == GGUF_ARRAY:
            element_type, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            return (element_type, [read_value(element_type) for _ in range(n)])
        fmt = SCALAR_FORMATS[vtype]
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    kvs = []
    for _ in range(n_kv):
        key = read_value(GGUF_STRING).decode("utf-8")
        (vtype,) = struct.unpack_from("<I", data, pos)
        pos += 4
        kvs.append((key, vtype, read_value(vtype)))
    return kvs


def f32_bytes(rng, n):
    return struct.pack("<%df" % n, *[rng.uniform(-0.5, 0.5) for _ in range(n)])


def tiny_spm_vocab():
    """A SentencePiece-style vocabulary: <unk> <s> </s>, 256 byte pieces, a few words."""
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    words = ["\u2581", "e", "t", "a", "o", "h", "\u2581t", "he", "\u2581the", "\u2581a", "in", "\u2581Once", "\u2581upon"]
    tokens += words
    types += [1] * len(words)
    scores = [0.0] * 259 + [-float(i) for i in range(len(words))]
    return tokens, scores, types


def shape_kvs(arch, dim, ffn, n_layers, n_heads, n_kv_heads, n_ctx, eps_key):
    """llama.cpp's `{arch}.*` shape keys and the norm epsilon."""
    return [
        (arch + ".context_length", GGUF_U32, n_ctx),
        (arch + ".embedding_length", GGUF_U32, dim),
        (arch + ".feed_forward_length", GGUF_U32, ffn),
        (arch + ".block_count", GGUF_U32, n_layers),
        (arch + ".attention.head_count", GGUF_U32, n_heads),
        (arch + ".attention.head_count_kv", GGUF_U32, n_kv_heads),
        (arch + "." + eps_key, GGUF_F32, 1e-5),
    ]


def spm_tokenizer_kvs(tokens, scores, types):
    return [
        ("tokenizer.ggml.model", GGUF_STRING, "llama"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_F32, scores)),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, types)),
    ]


def f32_tensor(rng, name, ne):
    """An F32 tensor of shape ne (ggml order: ne[0] is the row length)."""
    n = 1
    for d in ne:
        n *= d
    return (name, list(ne), GGML_F32, f32_bytes(rng, n))


def tiny_llama_gguf(rng, dim=8, n_heads=2, n_kv_heads=1, ffn=16, n_layers=1, ggml_type=GGML_F32):
    """A complete llama model: config, SPM tokenizer and every weight, F32 (or Q8_0 matrices)."""
    tokens, scores, types = tiny_spm_vocab()
    n_vocab = len(tokens)
    kvs = ([("general.architecture", GGUF_STRING, "llama"), ("general.name", GGUF_STRING, "fuzz-tiny")]
           + shape_kvs("llama", dim, ffn, n_layers, n_heads, n_kv_heads, 16, "attention.layer_norm_rms_epsilon")
           + [("llama.rope.freq_base", GGUF_F32, 10000.0), ("llama.vocab_size", GGUF_U32, n_vocab)]
           + spm_tokenizer_kvs(tokens, scores, types)) + [
        ("tokenizer.ggml.bos_token_id", GGUF_U32, 1),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, 2),
        ("tokenizer.ggml.unknown_token_id", GGUF_U32, 0),
    ]
    head_dim = dim // n_heads
    kv_dim = n_kv_heads * head_dim

    def matrix(name, rows, cols):
        if ggml_type == GGML_Q8_0 and cols % 32 == 0:
            blocks = rows * cols // 32
            data = b"".join(struct.pack("<e", 0.01) + bytes(rng.randrange(256) for _ in range(32)) for _ in range(blocks))
            return (name, [cols, rows], GGML_Q8_0, data)
        return f32_tensor(rng, name, [cols, rows])

    tensors = [matrix("token_embd.weight", n_vocab, dim), f32_tensor(rng, "output_norm.weight", [dim])]
    for layer in range(n_layers):
        p = "blk.%d." % layer
        tensors += [
            f32_tensor(rng, p + "attn_norm.weight", [dim]),
            matrix(p + "attn_q.weight", dim, dim),
            matrix(p + "attn_k.weight", kv_dim, dim),
            matrix(p + "attn_v.weight", kv_dim, dim),
            matrix(p + "attn_output.weight", dim, dim),
            f32_tensor(rng, p + "ffn_norm.weight", [dim]),
            matrix(p + "ffn_gate.weight", ffn, dim),
            matrix(p + "ffn_up.weight", ffn, dim),
            matrix(p + "ffn_down.weight", dim, ffn),
        ]
    return write_gguf(kvs, tensors)


def family_gguf(rng, arch, dim=8, n_heads=2, n_kv_heads=1, ffn=16, n_ctx=16):
    """One layer of a llama.cpp architecture other than llama (model/families.hpp reads it),
    with llama.cpp's keys and tensor names, so that mutations reach each family's config row."""
    tokens, scores, types = tiny_spm_vocab()
    n_vocab = len(tokens)
    head_dim = dim // n_heads
    kv_dim = n_kv_heads * head_dim
    layer_norm = arch in ("gpt2", "bloom", "falcon")
    eps_key = "attention.layer_norm_epsilon" if layer_norm else "attention.layer_norm_rms_epsilon"
    kvs = ([("general.architecture", GGUF_STRING, arch)]
           + shape_kvs(arch, dim, ffn, 1, n_heads, n_kv_heads, n_ctx, eps_key)
           + spm_tokenizer_kvs(tokens, scores, types))
    if arch in ("falcon", "phi3", "gemma"):
        kvs.append((arch + ".rope.dimension_count", GGUF_U32, head_dim))
    if arch == "phi3":
        kvs.append(("phi3.rope.scaling.original_context_length", GGUF_U32, n_ctx // 2))

    def vector(name, n):
        return f32_tensor(rng, name, [n])

    def matrix(name, rows, cols):
        return f32_tensor(rng, name, [cols, rows])

    def norm(name):
        return [vector(name + ".weight", dim)] + ([vector(name + ".bias", dim)] if layer_norm else [])

    biases = arch in ("gpt2", "bloom")
    tensors = [matrix("token_embd.weight", n_vocab, dim)] + norm("output_norm")
    if arch == "gpt2":
        tensors.append(matrix("position_embd.weight", n_ctx, dim))
    if arch == "bloom":
        tensors += norm("token_embd_norm")
    if arch in ("falcon", "phi3"):
        tensors.append(matrix("output.weight", n_vocab, dim))
    if arch == "phi3":
        tensors += [vector("rope_factors_short.weight", head_dim // 2), vector("rope_factors_long.weight", head_dim // 2)]
    b = "blk.0."
    tensors += norm(b + "attn_norm")
    if arch == "gemma":
        tensors += [matrix(b + "attn_q.weight", dim, dim), matrix(b + "attn_k.weight", kv_dim, dim),
                    matrix(b + "attn_v.weight", kv_dim, dim)]
    else:
        tensors.append(matrix(b + "attn_qkv.weight", dim + 2 * kv_dim, dim))
        if biases:
            tensors.append(vector(b + "attn_qkv.bias", dim + 2 * kv_dim))
    tensors.append(matrix(b + "attn_output.weight", dim, dim))
    if biases:
        tensors.append(vector(b + "attn_output.bias", dim))
    if arch != "falcon":  # Falcon-7B: attention and MLP in parallel from one norm
        tensors += norm(b + "ffn_norm")
    if arch == "gemma":
        tensors.append(matrix(b + "ffn_gate.weight", ffn, dim))
    tensors.append(matrix(b + "ffn_up.weight", 2 * ffn if arch == "phi3" else ffn, dim))
    tensors.append(matrix(b + "ffn_down.weight", dim, ffn))
    if biases:
        tensors += [vector(b + "ffn_up.bias", ffn), vector(b + "ffn_down.bias", dim)]
    return write_gguf(kvs, tensors)


def every_type_gguf(rng):
    """Metadata of every GGUF type, arrays of each, and tensors of four ggml types."""
    kvs = [(f"test.scalar.{t}", t, v) for t, v in [
        (GGUF_U8, 200), (GGUF_I8, -100), (GGUF_U16, 60000), (GGUF_I16, -30000), (GGUF_U32, 4000000000),
        (GGUF_I32, -2000000000), (GGUF_F32, 1.5), (GGUF_BOOL, True), (GGUF_U64, 2**63), (GGUF_I64, -2**62),
        (GGUF_F64, -2.25)]]
    kvs += [("test.string", GGUF_STRING, "h\u00e9llo"), ("test.empty", GGUF_STRING, ""),
            ("test.strings", GGUF_ARRAY, (GGUF_STRING, ["a", "", "\u2581b"])),
            ("test.ints", GGUF_ARRAY, (GGUF_I32, [1, -2, 3])), ("test.floats", GGUF_ARRAY, (GGUF_F32, [0.5, -1.0])),
            ("test.u64s", GGUF_ARRAY, (GGUF_U64, [2**64 - 1])), ("test.empty_array", GGUF_ARRAY, (GGUF_U8, [])),
            ("general.alignment", GGUF_U32, 64)]
    tensors = [
        ("f32", [4, 2], GGML_F32, f32_bytes(rng, 8)),
        ("f16", [3], GGML_F16, struct.pack("<3e", 1.0, -2.0, 0.5)),
        ("q4_0", [32, 2], GGML_Q4_0, bytes(36)),
        ("q8_0", [64], GGML_Q8_0, bytes(68)),
        ("empty", [0, 5], GGML_F32, b""),
    ]
    return write_gguf(kvs, tensors, alignment=64)


def gguf_header_variants():
    """Headers whose counts, lengths or shapes are hostile (the CVE-2024-21825 family)."""
    def header(version=3, n_tensors=0, n_kv=0):
        return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)
    kv = gguf_string("k") + struct.pack("<I", GGUF_U32) + struct.pack("<I", 7)

    def tensor_info(name, ne, ggml_type=GGML_F32, offset=0):
        return gguf_string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + \
            struct.pack("<IQ", ggml_type, offset)
    return {
        "huge_tensor_count": header(n_tensors=2**63),
        "huge_kv_count": header(n_kv=2**64 - 1),
        "huge_key_length": header(n_kv=1) + struct.pack("<Q", 2**64 - 1) + b"k",
        "huge_string_value": header(n_kv=1) + gguf_string("k") + struct.pack("<IQ", GGUF_STRING, 2**63) + b"x",
        "huge_array": header(n_kv=1) + gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, GGUF_U64, 2**61),
        "huge_string_array": header(n_kv=1) + gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, GGUF_STRING, 2**60),
        "nested_array": header(n_kv=1) + gguf_string("k") + struct.pack("<IIQ", GGUF_ARRAY, GGUF_ARRAY, 1),
        "unknown_value_type": header(n_kv=1) + gguf_string("k") + struct.pack("<I", 99) + bytes(8),
        "duplicate_key": header(n_kv=2) + kv + kv,
        "ne_overflow": header(n_tensors=1) + tensor_info("t", [2**32, 2**32, 2**32]) + bytes(32),
        "ne_int64_overflow_with_zero": header(n_tensors=1) + tensor_info("t", [0, 2**62, 4]) + bytes(32),
        "too_many_dims": header(n_tensors=1) + gguf_string("t") + struct.pack("<I", 5) + bytes(48),
        "unknown_tensor_type": header(n_tensors=1) + tensor_info("t", [4], 77) + bytes(32),
        "quant_not_block_multiple": header(n_tensors=1) + tensor_info("t", [33], GGML_Q8_0) + bytes(64),
        "misaligned_offset": header(n_tensors=1) + tensor_info("t", [1], offset=3) + bytes(64),
        "offset_past_end": header(n_tensors=1) + tensor_info("t", [1], offset=2**63) + bytes(32),
        "overlapping": header(n_tensors=2) + tensor_info("a", [16]) + tensor_info("b", [16], offset=32) + bytes(128),
        "alignment_zero": header(n_kv=1) + gguf_string("general.alignment") + struct.pack("<II", GGUF_U32, 0),
        "alignment_three": header(n_kv=1) + gguf_string("general.alignment") + struct.pack("<II", GGUF_U32, 3),
        "version_1": header(version=1),
        "version_big_endian": header(version=3 << 24),
        "bad_magic": b"GGUG" + header()[4:],
        "empty": b"",
    }


def truncations(data, count=8):
    """Prefixes of `data` at evenly spread lengths (every truncation point is a code path)."""
    if not data:
        return []
    return [data[:len(data) * i // count] for i in range(1, count)]


# ---------------------------------------------------------------------------------------
# safetensors: u64 header length N, N bytes of JSON, then the data.

def write_safetensors(entries, metadata=None):
    """entries: [(name, dtype, shape, data bytes)]."""
    header = {}
    data = b""
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def raw_safetensors(header_text, data=b""):
    text = header_text.encode() if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds(rng):
    seeds = {
        "valid": write_safetensors([("a", "F32", [2, 3], f32_bytes(rng, 6)), ("b", "F16", [4], bytes(8)),
                                    ("c", "BF16", [1, 1, 2], bytes(4)), ("d", "I64", [], bytes(8)),
                                    ("e", "F32", [0, 7], b"")], {"format": "pt"}),
        "huge_header_length": struct.pack("<Q", 2**64 - 1) + b"{}",
        "header_past_end": struct.pack("<Q", 1000) + b"{}",
        "not_json": raw_safetensors("{\"a\":"),
        "not_object": raw_safetensors("[1,2]"),
        "duplicate_name": raw_safetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                          '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)),
        "inverted_offsets": raw_safetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', bytes(4)),
        "offsets_past_end": raw_safetensors('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}}'),
        "shape_overflow": raw_safetensors('{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}}'),
        "shape_int64_overflow_with_zero": raw_safetensors('{"a":{"dtype":"F32","shape":[0,2,4611686018427387904],'
                                                          '"data_offsets":[0,0]}}'),
        "negative_shape": raw_safetensors('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', bytes(4)),
        "overlap": raw_safetensors('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                   '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12)),
        "unknown_dtype": raw_safetensors('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
        "size_mismatch": raw_safetensors('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8)),
        "metadata_not_object": raw_safetensors('{"__metadata__":[1]}'),
        "deep_nesting": raw_safetensors("[" * 5000 + "]" * 5000),
        "short": b"\x01\x02",
    }
    for i, t in enumerate(truncations(seeds["valid"], 5)):
        seeds["valid_truncated_%d" % i] = t
    return seeds


def index_seeds(shared):
    def index(weight_map):
        return json.dumps({"metadata": {"total_size": 16}, "weight_map": weight_map}).encode()
    seeds = {
        "valid": index({"x": "a.safetensors", "y": "b.safetensors"}),
        "one_shard": index({"x": "a.safetensors"}),
        "missing_tensor": index({"x": "a.safetensors", "z": "a.safetensors"}),
        "wrong_shard": index({"x": "b.safetensors"}),
        "missing_shard": index({"x": "c.safetensors"}),
        "escapes_folder": index({"x": "../a.safetensors"}),
        "absolute": index({"x": "/etc/passwd"}),
        "itself": index({"x": "model.safetensors.index.json"}),
        "empty_name": index({"x": ""}),
        "not_string": index({"x": 7}),
        "no_weight_map": b'{"metadata":{}}',
        "not_json": b'{"weight_map":',
    }
    real = os.path.join(shared, "models/stories260K-hf-bf16/model.safetensors.index.json")
    if os.path.exists(real):
        with open(real, "rb") as f:
            seeds["real_stories260K_bf16"] = f.read()
    return seeds


# ---------------------------------------------------------------------------------------
# config.json (Hugging Face transformers)

def config_seeds(shared):
    base = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
            "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4,
            "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}

    def variant(**changes):
        c = dict(base)
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return json.dumps(c).encode()
    seeds = {
        "llama": variant(),
        "mistral": variant(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=4096),
        "mixtral": variant(architectures=["MixtralForCausalLM"], model_type="mixtral", num_local_experts=8,
                           num_experts_per_tok=2),
        "qwen2": variant(architectures=["Qwen2ForCausalLM"], model_type="qwen2", use_sliding_window=False,
                         sliding_window=32768),
        "llama3_rope": variant(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        "yarn": variant(rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
        "linear": variant(rope_scaling={"type": "linear", "factor": 2.0}),
        "longrope": variant(rope_scaling={"type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4}),
        "head_dim": variant(head_dim=128),
        "eos_list": variant(eos_token_id=[2, 32000]),
        "huge_dims": variant(hidden_size=2**31 - 1, num_attention_heads=1, num_key_value_heads=1),
        "q_dim_overflow": variant(num_attention_heads=4, num_key_value_heads=4, head_dim=2**30),
        "negative": variant(num_hidden_layers=-1),
        "float_for_int": variant(hidden_size=64.5),
        "string_for_int": variant(hidden_size="64"),
        "missing_hidden": variant(hidden_size=None),
        "unknown_arch": variant(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox"),
        "arch_not_list": variant(architectures="LlamaForCausalLM"),
        "rope_scaling_list": variant(rope_scaling=[1, 2]),
        "not_object": b"[]",
        "truncated": variant()[:50],
    }
    for path in ["models/stories260K-hf/config.json", "models/stories260K-hf-bf16/config.json"]:
        full = os.path.join(shared, path)
        if os.path.exists(full):
            with open(full, "rb") as f:
                seeds["real_" + path.split("/")[1]] = f.read()
    return seeds


# ---------------------------------------------------------------------------------------
# tokenizer.json: the real files are megabytes, so each is shrunk to its first ids (and the
# merges among them) with the same normalizer / pre-tokenizer / decoder / post-processor.

def shrink_tokenizer_json(path, keep=600):
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    model = j["model"]
    vocab = {token: i for token, i in model["vocab"].items() if i < keep}
    merges = []
    for merge in model["merges"]:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(merge)
    model["vocab"] = vocab
    model["merges"] = merges
    next_id = keep
    for token in j.get("added_tokens", []):
        if token["id"] >= keep:
            token["id"] = next_id
            next_id += 1
    return j


def hand_written_byte_level():
    """A GPT-2 style byte-level BPE over the 256 byte symbols and two merges."""
    byte_symbols = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 173)] + \
        [chr(c) for c in range(174, 256)]
    n = 0
    vocab = {}
    for b in range(256):
        vocab[chr(b) if chr(b) in byte_symbols else chr(256 + n)] = b
        if chr(b) not in byte_symbols:
            n += 1
    vocab["he"] = 256
    vocab["\u0120t"] = 257
    return {"version": "1.0", "added_tokens": [{"id": 258, "content": "<|endoftext|>", "special": True,
                                                "lstrip": False, "rstrip": False, "normalized": False,
                                                "single_word": False}],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "merges": ["h e", "\u0120 t"]}}


def tokenizer_json_seeds(shared):
    seeds = {"hand_byte_level": json.dumps(hand_written_byte_level()).encode()}
    for name in ["llama3", "qwen3", "phi-3.5-mini"]:
        path = os.path.join(shared, "tokenizers", name, "tokenizer.json")
        if os.path.exists(path):
            seeds["shrunk_" + name] = json.dumps(shrink_tokenizer_json(path)).encode()
    hostile = hand_written_byte_level()
    hostile["added_tokens"][0]["id"] = 2**31
    seeds["added_token_id_huge"] = json.dumps(hostile).encode()
    hostile = hand_written_byte_level()
    hostile["model"]["vocab"]["he"] = -1
    seeds["negative_id"] = json.dumps(hostile).encode()
    hostile = hand_written_byte_level()
    hostile["model"]["merges"] = ["h", "x y", ["a"], 7]
    seeds["bad_merges"] = json.dumps(hostile).encode()
    hostile = hand_written_byte_level()
    hostile["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": "(a|b)*c"}, "behavior": "Isolated"}
    seeds["unknown_regex"] = json.dumps(hostile).encode()
    return seeds


# ---------------------------------------------------------------------------------------
# SentencePiece ModelProto (protobuf wire format, written by hand).

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def proto_field(number, wire_type, payload):
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    if wire_type == 2:
        return key + varint(len(payload)) + payload
    return key + payload  # fixed32 / fixed64: payload already packed


def sentencepiece_model(tokens, scores, types, model_type=2, byte_fallback=True, extra_trainer=b""):
    out = b""
    for token, score, ptype in zip(tokens, scores, types):
        piece = proto_field(1, 2, token.encode()) + proto_field(2, 5, struct.pack("<f", score)) + \
            proto_field(3, 0, ptype)
        out += proto_field(1, 2, piece)
    trainer = proto_field(3, 0, model_type) + proto_field(35, 0, int(byte_fallback)) + \
        proto_field(40, 0, 0) + proto_field(41, 0, 1) + proto_field(42, 0, 2) + extra_trainer
    out += proto_field(2, 2, trainer)
    normalizer = proto_field(1, 2, b"identity") + proto_field(3, 0, 1) + proto_field(4, 0, 0)
    return out + proto_field(3, 2, normalizer)


def sentencepiece_seeds(shared):
    tokens, scores, types = tiny_spm_vocab()
    valid = sentencepiece_model(tokens, scores, types)
    seeds = {
        "valid": valid,
        "unigram": sentencepiece_model(tokens, scores, types, model_type=1),
        "bos_out_of_range": sentencepiece_model(tokens, scores, types, extra_trainer=proto_field(41, 0, 100000)),
        "negative_ids": sentencepiece_model(tokens, scores, types, extra_trainer=proto_field(40, 0, 2**64 - 5)),
        "piece_type_99": sentencepiece_model(tokens[:4], scores[:4], [2, 3, 3, 99]),
        "huge_length": varint(1 << 3 | 2) + varint(2**63) + b"x",
        "long_varint": b"\x08" + b"\xff" * 11,
        "wire_type_7": varint(1 << 3 | 7),
        "field_zero": b"\x02\x00",
        "no_pieces": proto_field(2, 2, proto_field(3, 0, 2)),
        "empty": b"",
    }
    for i, t in enumerate(truncations(valid, 6)):
        seeds["truncated_%d" % i] = t
    for path in ["models/stories260K/tok512.model"]:
        full = os.path.join(shared, path)
        if os.path.exists(full):
            with open(full, "rb") as f:
                seeds["real_tok512"] = f.read()
    return seeds


# ---------------------------------------------------------------------------------------
# llama2.c: tokenizer.bin (i32 max_token_length, then f32 score, i32 length, bytes per
# token) and the model .bin (legacy 7 x i32 header, or "ak42" version 1 with a 256-byte
# header), fp32 weights in run.c's order.

def llama2c_tokenizer(tokens, scores):
    body = b"".join(struct.pack("<fi", s, len(t.encode())) + t.encode() for t, s in zip(tokens, scores))
    return struct.pack("<i", max(len(t.encode()) for t in tokens)) + body


def llama2c_tokenizer_seeds(shared):
    tokens, scores, _ = tiny_spm_vocab()
    tokens = ["<unk>", "\n<s>\n", "\n</s>\n"] + [t.replace("\u2581", " ") for t in tokens[3:]]
    valid = llama2c_tokenizer(tokens, scores)
    seeds = {
        "valid": valid,
        "negative_max_length": struct.pack("<i", -1),
        "negative_length": struct.pack("<ifi", 8, 0.0, -5) + b"abc",
        "length_past_end": struct.pack("<ifi", 8, 0.0, 8) + b"ab",
        "length_over_max": struct.pack("<ifi", 2, 0.0, 3) + b"abc",
        "two_tokens": llama2c_tokenizer(["<unk>", "<s>"], [0.0, 0.0]),
        "nan_scores": llama2c_tokenizer(tokens[:10], [float("nan")] * 10),
    }
    for i, t in enumerate(truncations(valid, 6)):
        seeds["truncated_%d" % i] = t
    full = os.path.join(shared, "models/stories260K/tok512.bin")
    if os.path.exists(full):
        with open(full, "rb") as f:
            seeds["real_tok512"] = f.read()
    return seeds


def llama2c_model(rng, dim=8, hidden=16, n_layers=1, n_heads=2, n_kv_heads=1, vocab=16, seq_len=8, version=0,
                  shared_classifier=True):
    head = dim // n_heads
    kv_dim = n_kv_heads * head
    header = struct.pack("<7i", dim, hidden, n_layers, n_heads, n_kv_heads,
                         vocab if shared_classifier or version == 1 else -vocab, seq_len)
    if version == 1:
        header = struct.pack("<Ii", 0x616b3432, 1) + header + struct.pack("<B", int(shared_classifier))
        header += b"\0" * (256 - len(header))
    counts = [vocab * dim, n_layers * dim, n_layers * dim * dim, n_layers * kv_dim * dim, n_layers * kv_dim * dim,
              n_layers * dim * dim, n_layers * dim, n_layers * hidden * dim * 3, dim]
    if version == 0:
        counts += [seq_len * head // 2] * 2
    if not shared_classifier:
        counts.append(vocab * dim)
    return header + f32_bytes(rng, sum(counts))


def llama2c_model_seeds(rng):
    valid = llama2c_model(rng)
    seeds = {
        "legacy": valid,
        "legacy_unshared": llama2c_model(rng, shared_classifier=False),
        "v1": llama2c_model(rng, version=1),
        "v1_unshared": llama2c_model(rng, version=1, shared_classifier=False),
        "huge_dims": struct.pack("<7i", 2**31 - 1, 2**31 - 1, 2**31 - 1, 1, 1, 2**31 - 1, 2**31 - 1) + bytes(64),
        "min_vocab": struct.pack("<7i", 8, 16, 1, 2, 1, -2**31, 8) + bytes(64),
        "zero_heads": struct.pack("<7i", 8, 16, 1, 0, 1, 16, 8) + bytes(64),
        "heads_not_dividing": struct.pack("<7i", 8, 16, 1, 3, 1, 16, 8) + bytes(64),
        "kv_not_dividing": struct.pack("<7i", 8, 16, 1, 4, 3, 16, 8) + bytes(64),
        "v2": struct.pack("<Ii", 0x616b3432, 2) + bytes(250),
        "v1_bad_flag": struct.pack("<Ii7iB", 0x616b3432, 1, 8, 16, 1, 2, 1, 16, 8, 7) + bytes(220),
        "trailing_bytes": valid + b"\0" * 4,
    }
    for i, t in enumerate(truncations(valid, 6)):
        seeds["truncated_%d" % i] = t
    return seeds


# ---------------------------------------------------------------------------------------
# Chat templates: fuzz_chat_template reads NUL-separated fields: the Jinja source, the BOS
# and EOS strings, then role, content pairs.

def chat_seeds(shared):
    templates = {
        "llama2": "{% if messages[0]['role'] == 'system' %}<<SYS>>\\n{% endif %}[INST] {{ message['content'] }} [/INST]",
        "mistral": "{{ bos_token }}{% for message in messages %}[INST] {{ message['content'] }} [/INST]{% endfor %}",
        "chatml": "{% for message in messages %}<|im_start|>{{ message['role'] }}\\n{{ message['content'] }}<|im_end|>",
        "phi3": "{% for message in messages %}<|user|>\\n{{ message['content'] }}<|end|>\\n{% endfor %}",
        "gemma": "<start_of_turn>user\\n{{ message['content'] }}<end_of_turn>",
        "unknown": "{{ messages }}",
    }
    for name in ["llama3", "qwen3"]:
        path = os.path.join(shared, "tokenizers", name, "tokenizer_config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                template = json.load(f).get("chat_template")
            if isinstance(template, str):
                templates[name] = template
    conversations = [
        [("system", "Be brief."), ("user", "Hi"), ("assistant", " Hello! "), ("user", "Bye")],
        [("user", "  spaces  ")],
        [("assistant", "starts with the assistant")],
        [("user", "a"), ("user", "b")],
        [("tool", "{\"x\": 1}"), ("user", "<think>x</think>")],
        [("assistant", "<think>\nreasoning\n</think>\n\nanswer"), ("user", "q")],
        [],
    ]
    seeds = {}
    for name, template in templates.items():
        for i, conversation in enumerate(conversations):
            fields = [template, "<s>", "</s>"] + [x for message in conversation for x in message]
            seeds["%s_%d" % (name, i)] = "\0".join(fields).encode()
    return seeds


# ---------------------------------------------------------------------------------------
# Texts for the tokenizer encode/decode target: llama.cpp's test strings and a few more.

def text_seeds(shared):
    texts = ["", " ", "Hello world", "  leading and  double  spaces", "\n\n\t\r\n", "caf\u00e9 na\u00efve",
             "\u4f60\u597d\u4e16\u754c", "\U0001F999 llama", "3.14159 1234567890", "<s>x</s><|im_end|><unk>",
             "don't I'LL we've", "\u2581\u2581", "a" * 300]
    seeds = {"text_%d" % i: t.encode() for i, t in enumerate(texts)}
    seeds["invalid_utf8"] = b"\xff\xfe\xc3(\xe2\x82\xf0\x9f\x98"
    seeds["lone_surrogate"] = b"\xed\xa0\x80"
    vocab_dir = os.path.join(shared, "vocab")
    if os.path.isdir(vocab_dir):
        inp = os.path.join(vocab_dir, "ggml-vocab-llama-spm.gguf.inp")
        if os.path.exists(inp):
            with open(inp, "rb") as f:
                for i, case in enumerate(f.read().split(b"\n__ggml_vocab_test__\n")):
                    seeds["vocab_test_%d" % i] = case
    return seeds


# ---------------------------------------------------------------------------------------

def gguf_seeds(rng, shared):
    seeds = {"every_type": every_type_gguf(rng), "tiny_llama": tiny_llama_gguf(rng),
             "tiny_llama_q8_0": tiny_llama_gguf(rng, dim=32, n_heads=4, n_kv_heads=2, ffn=32,
                                                 ggml_type=GGML_Q8_0)}
    seeds.update(gguf_header_variants())
    for i, t in enumerate(truncations(seeds["every_type"], 8)):
        seeds["every_type_truncated_%d" % i] = t
    v2 = bytearray(seeds["every_type"])
    v2[4:8] = struct.pack("<I", 2)
    seeds["every_type_v2"] = bytes(v2)
    # The real tokenizers as vocab-only GGUFs (metadata, no tensors), shrunk to a few
    # hundred tokens so that mutations stay fast.
    for name, path in [("stories260K", "models/stories260K/stories260K.gguf"),
                       ("gpt2", "vocab/ggml-vocab-gpt-2.gguf"), ("llama_spm", "vocab/ggml-vocab-llama-spm.gguf")]:
        full = os.path.join(shared, path)
        if not os.path.exists(full):
            continue
        kvs = read_gguf_metadata(full)
        tokens = set(next(v[1][:600] for k, _, v in kvs if k == "tokenizer.ggml.tokens"))
        shrunk = []
        for key, vtype, value in kvs:
            if key == "tokenizer.ggml.merges":
                pairs = [(m, m.split(b" ", 1)) for m in value[1]]
                value = (value[0], [m for m, p in pairs if len(p) == 2 and p[0] in tokens and p[1] in tokens and
                                    p[0] + p[1] in tokens])
            elif vtype == GGUF_ARRAY and key.startswith("tokenizer.ggml."):
                value = (value[0], value[1][:600])
            elif key.endswith("_token_id") and value >= 600:
                value = 0
            shrunk.append((key, vtype, value))
        seeds["vocab_" + name] = write_gguf(shrunk, [])
    return seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="corpus folder; one sub-folder per fuzz target")
    parser.add_argument("--shared", default=os.environ.get("LLMPP_SHARED_DIR") or
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
    args = parser.parse_args()
    rng = random.Random(1234)  # fixed: the same corpus on every run

    gguf = gguf_seeds(rng, args.shared)
    sentencepiece = sentencepiece_seeds(args.shared)
    llama2c_tokenizer_files = llama2c_tokenizer_seeds(args.shared)
    targets = {
        "gguf": gguf,
        "model_load": dict({k: v for k, v in gguf.items() if k.startswith("tiny_llama")},
                           **{"family_" + arch: family_gguf(rng, arch)
                              for arch in ("gpt2", "bloom", "falcon", "phi3", "gemma")}),
        "safetensors": safetensors_seeds(rng),
        "safetensors_index": index_seeds(args.shared),
        "hf_config": config_seeds(args.shared),
        "tokenizer_json": tokenizer_json_seeds(args.shared),
        "sentencepiece_model": sentencepiece,
        "llama2c_tokenizer": llama2c_tokenizer_files,
        "llama2c_model": llama2c_model_seeds(rng),
        "chat_template": chat_seeds(args.shared),
        "tokenize": text_seeds(args.shared),
    }
    total = 0
    for target, seeds in targets.items():
        folder = os.path.join(args.out, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(folder, "seed-" + name), "wb") as f:
                f.write(data)
        total += len(seeds)
    print("wrote %d seeds for %d targets into %s" % (total, len(targets), args.out))


if __name__ == "__main__":
    sys.exit(main())
