"""Golden blocks for tests/test_quant.cpp: raw bytes of each GGML block type and the floats
they stand for, decoded here with numpy straight from the published block formats
(ggml-common.h's block_* structs, as documented by llama.cpp's gguf-py), independently of
the C++ kernels.

For every type T it writes `T.bytes` (I8, shape (n_blocks, block_bytes): the blocks in file
order) and `T.values` (F32, shape (n_blocks * block_size,)), plus F16 / BF16 rows converted
by torch. Writes tests/data/quant_blocks.safetensors.

Run: /usr/bin/python3 scripts/reference/gen_quant_golden.py
"""
import numpy as np
import torch

from golden import write_golden

N_BLOCKS = 3
rng = np.random.default_rng(20240601)


def random_half(n, low, high):
    """n fp16 scales, as (n, 2) little-endian bytes and as float32 values."""
    h = rng.uniform(low, high, n).astype("<f2")
    return h.view(np.uint8).reshape(n, 2), h.astype(np.float32)


def random_bytes(n, width):
    return rng.integers(0, 256, size=(n, width), dtype=np.uint8)


def nibbles_32(qs):
    """(n, 16) bytes -> (n, 32) quants: element j is the low nibble of byte j, j + 16 the high."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)


def fifth_bits(qh):
    """(n, 4) bytes of a little-endian uint32 -> (n, 32) bits, element j = bit j."""
    word = qh.copy().view("<u4").reshape(-1, 1).astype(np.int64)
    return ((word >> np.arange(32)) & 1).astype(np.int32)


def q4_0():
    d_bytes, d = random_half(N_BLOCKS, -0.1, 0.1)
    qs = random_bytes(N_BLOCKS, 16)
    values = d[:, None] * (nibbles_32(qs) - 8).astype(np.float32)
    return np.concatenate([d_bytes, qs], axis=1), values


def q4_1():
    d_bytes, d = random_half(N_BLOCKS, 0.0, 0.1)
    m_bytes, m = random_half(N_BLOCKS, -1.0, 0.0)
    qs = random_bytes(N_BLOCKS, 16)
    values = d[:, None] * nibbles_32(qs).astype(np.float32) + m[:, None]
    return np.concatenate([d_bytes, m_bytes, qs], axis=1), values


def q5_0():
    d_bytes, d = random_half(N_BLOCKS, -0.1, 0.1)
    qh = random_bytes(N_BLOCKS, 4)
    qs = random_bytes(N_BLOCKS, 16)
    q = nibbles_32(qs) + 16 * fifth_bits(qh)
    values = d[:, None] * (q - 16).astype(np.float32)
    return np.concatenate([d_bytes, qh, qs], axis=1), values


def q5_1():
    d_bytes, d = random_half(N_BLOCKS, 0.0, 0.1)
    m_bytes, m = random_half(N_BLOCKS, -2.0, 0.0)
    qh = random_bytes(N_BLOCKS, 4)
    qs = random_bytes(N_BLOCKS, 16)
    q = nibbles_32(qs) + 16 * fifth_bits(qh)
    values = d[:, None] * q.astype(np.float32) + m[:, None]
    return np.concatenate([d_bytes, m_bytes, qh, qs], axis=1), values


def q8_0():
    d_bytes, d = random_half(N_BLOCKS, -0.01, 0.01)
    qs = random_bytes(N_BLOCKS, 32)
    values = d[:, None] * qs.view(np.int8).astype(np.float32)
    return np.concatenate([d_bytes, qs], axis=1), values


def k4_scales_mins(scales):
    """(n, 12) packed bytes -> (n, 8) scales and (n, 8) mins of 6 bits each."""
    s = scales.astype(np.int32)
    low_scales, low_mins, tails = s[:, 0:4], s[:, 4:8], s[:, 8:12]
    sc = np.concatenate([low_scales & 63, (tails & 0x0F) | ((low_scales >> 6) << 4)], axis=1)
    mn = np.concatenate([low_mins & 63, (tails >> 4) | ((low_mins >> 6) << 4)], axis=1)
    return sc, mn


def k4_quants(qs, qh=None):
    """(n, 128) bytes (+ (n, 32) fifth-bit bytes) -> (n, 256) quants. Each 64-element chunk c
    is 32 bytes: low nibbles are elements 64c..64c+31, high nibbles 64c+32..64c+63; the fifth
    bit of those is bit 2c (resp. 2c + 1) of qh[l]."""
    chunks = qs.reshape(-1, 4, 32).astype(np.int32)
    q = np.stack([chunks & 0x0F, chunks >> 4], axis=2)  # (n, chunk, half, l)
    if qh is not None:
        h = qh.astype(np.int32)[:, None, None, :]
        shift = 2 * np.arange(4)[None, :, None, None] + np.arange(2)[None, None, :, None]
        q = q + 16 * ((h >> shift) & 1)
    return q.reshape(-1, 256)


def k_affine(d_bytes, d, dmin_bytes, dmin, scales, q):
    sc, mn = k4_scales_mins(scales)
    step = np.repeat((d[:, None] * sc).astype(np.float32), 32, axis=1)
    offset = np.repeat((dmin[:, None] * mn).astype(np.float32), 32, axis=1)
    return step * q.astype(np.float32) - offset


def q4_k():
    d_bytes, d = random_half(N_BLOCKS, 0.0, 0.01)
    dmin_bytes, dmin = random_half(N_BLOCKS, 0.0, 0.01)
    scales = random_bytes(N_BLOCKS, 12)
    qs = random_bytes(N_BLOCKS, 128)
    values = k_affine(d_bytes, d, dmin_bytes, dmin, scales, k4_quants(qs))
    return np.concatenate([d_bytes, dmin_bytes, scales, qs], axis=1), values


def q5_k():
    d_bytes, d = random_half(N_BLOCKS, 0.0, 0.01)
    dmin_bytes, dmin = random_half(N_BLOCKS, 0.0, 0.01)
    scales = random_bytes(N_BLOCKS, 12)
    qh = random_bytes(N_BLOCKS, 32)
    qs = random_bytes(N_BLOCKS, 128)
    values = k_affine(d_bytes, d, dmin_bytes, dmin, scales, k4_quants(qs, qh))
    return np.concatenate([d_bytes, dmin_bytes, scales, qh, qs], axis=1), values


def q6_k():
    ql = random_bytes(N_BLOCKS, 128)
    qh = random_bytes(N_BLOCKS, 64)
    scales = random_bytes(N_BLOCKS, 16)
    d_bytes, d = random_half(N_BLOCKS, -0.01, 0.01)
    q = np.zeros((N_BLOCKS, 256), dtype=np.int32)
    for half in range(2):
        low = ql[:, 64 * half:64 * half + 64].astype(np.int32)
        high = qh[:, 32 * half:32 * half + 32].astype(np.int32)
        base = 128 * half
        # Element order within the half: [low nibble of ql[0:32], of ql[32:64], high nibble
        # of ql[0:32], of ql[32:64]], each topped by the next 2 bits of qh.
        parts = [low[:, :32] & 0x0F, low[:, 32:] & 0x0F, low[:, :32] >> 4, low[:, 32:] >> 4]
        for k, part in enumerate(parts):
            q[:, base + 32 * k:base + 32 * k + 32] = part | (((high >> (2 * k)) & 3) << 4)
    step = np.repeat((d[:, None] * scales.view(np.int8).astype(np.float32)).astype(np.float32), 16, axis=1)
    values = step * (q - 32).astype(np.float32)
    return np.concatenate([ql, qh, scales, d_bytes], axis=1), values


def two_bit_planes(qs):
    """(n, 64) bytes -> (n, 256) quants: element 128h + 32k + l is bits 2k, 2k + 1 of byte
    32h + l (Q2_K, and the low bits of Q3_K)."""
    element = np.arange(256)
    byte = 32 * (element // 128) + element % 32
    shift = 2 * ((element % 128) // 32)
    return (qs.astype(np.int32)[:, byte] >> shift) & 3


def q2_k():
    scales = random_bytes(N_BLOCKS, 16)
    qs = random_bytes(N_BLOCKS, 64)
    d_bytes, d = random_half(N_BLOCKS, 0.0, 0.01)
    dmin_bytes, dmin = random_half(N_BLOCKS, 0.0, 0.01)
    s = scales.astype(np.int32)
    step = np.repeat((d[:, None] * (s & 0x0F)).astype(np.float32), 16, axis=1)
    offset = np.repeat((dmin[:, None] * (s >> 4)).astype(np.float32), 16, axis=1)
    values = step * two_bit_planes(qs).astype(np.float32) - offset
    return np.concatenate([scales, qs, d_bytes, dmin_bytes], axis=1), values


def q3_k_scales(packed):
    """(n, 12) bytes -> (n, 16) signed scales: the low nibble of scale j is nibble j // 8 of
    byte j % 8, its top two bits are bits 2 (j // 4) and up of byte 8 + j % 4; stored + 32."""
    p = packed.astype(np.int32)
    j = np.arange(16)
    low = (p[:, j % 8] >> (4 * (j // 8))) & 0x0F
    high = (p[:, 8 + j % 4] >> (2 * (j // 4))) & 3
    return (low | (high << 4)) - 32


def q3_k():
    hmask = random_bytes(N_BLOCKS, 32)
    qs = random_bytes(N_BLOCKS, 64)
    scales = random_bytes(N_BLOCKS, 12)
    d_bytes, d = random_half(N_BLOCKS, -0.01, 0.01)
    element = np.arange(256)
    third_bit = (hmask.astype(np.int32)[:, element % 32] >> (element // 32)) & 1
    q = two_bit_planes(qs) - 4 * (1 - third_bit)  # 4 is subtracted where the bit is clear
    step = np.repeat((d[:, None] * q3_k_scales(scales)).astype(np.float32), 16, axis=1)
    values = step * q.astype(np.float32)
    return np.concatenate([hmask, qs, scales, d_bytes], axis=1), values


def main():
    tensors = {}
    block_bytes = {}
    for name, build in [("Q4_0", q4_0), ("Q4_1", q4_1), ("Q5_0", q5_0), ("Q5_1", q5_1), ("Q8_0", q8_0),
                        ("Q4_K", q4_k), ("Q5_K", q5_k), ("Q6_K", q6_k)]:
        blocks, values = build()
        block_bytes[name] = blocks.shape[1]
        tensors[name + ".bytes"] = torch.from_numpy(np.ascontiguousarray(blocks).view(np.int8))
        tensors[name + ".values"] = torch.from_numpy(values.astype(np.float32).reshape(-1))
    # Plain 16-bit floats: torch's own conversions are the reference.
    reference = torch.from_numpy(rng.normal(0.0, 2.0, 64).astype(np.float32))
    for name, dtype in [("F16", torch.float16), ("BF16", torch.bfloat16)]:
        encoded = reference.to(dtype)
        tensors[name + ".bytes"] = encoded.view(torch.int16).view(torch.int8).clone()
        tensors[name + ".values"] = encoded.to(torch.float32)
        block_bytes[name] = 2
    # Types added later draw from the generator after the 16-bit floats, so that the earlier
    # goldens keep their bytes.
    for name, build in [("Q2_K", q2_k), ("Q3_K", q3_k)]:
        blocks, values = build()
        block_bytes[name] = blocks.shape[1]
        tensors[name + ".bytes"] = torch.from_numpy(np.ascontiguousarray(blocks).view(np.int8))
        tensors[name + ".values"] = torch.from_numpy(values.astype(np.float32).reshape(-1))
    write_golden("quant_blocks", tensors, {"block_bytes": block_bytes})


if __name__ == "__main__":
    main()
