"""A character-level byte-level BPE tokenizer for the tiny test models, as a Hugging Face
folder ships it: tokenizer.json (GPT-2's layout: ByteLevel pre-tokenizer and decoder, a BPE
model with no merges) and tokenizer_config.json.

The tiny models have a vocabulary of 96 (scripts/reference/gen_tiny_models.py,
gen_families.py): ids 0..94 are the 95 printable ASCII characters, id = byte - 0x20, each
written through GPT-2's byte-to-unicode table (which maps the space to "Ġ", U+0120, and
keeps 0x21..0x7E as they are); id 95 is "<|endoftext|>", special, the BOS and EOS. With no
merges every character is its own token, so the text of a reference token sequence encodes
back to exactly that sequence. Writes only these two files into every
tests/data/tiny_models/*/ folder; the weights and references are not touched.

Run: python3 scripts/reference/gen_tiny_tokenizer.py   (plain json, no torch)
"""
import json
import os

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")
END_OF_TEXT = "<|endoftext|>"
N_CHARACTERS = 95  # 0x20 .. 0x7E


def byte_to_unicode(byte):
    """GPT-2's table (encoder.py bytes_to_unicode): printable Latin-1 bytes stay, the others
    (0x00-0x20, 0x7F-0xA0, 0xAD) take code points from U+0100 on, in byte order."""
    kept = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    if byte in kept:
        return chr(byte)
    moved = [b for b in range(256) if b not in kept]
    return chr(256 + moved.index(byte))


def tokenizer_json():
    vocab = {byte_to_unicode(0x20 + i): i for i in range(N_CHARACTERS)}
    vocab[END_OF_TEXT] = N_CHARACTERS
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": N_CHARACTERS, "content": END_OF_TEXT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }


def tokenizer_config():
    return {"add_bos_token": False, "add_prefix_space": False, "bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT,
            "model_max_length": 128, "tokenizer_class": "GPT2Tokenizer", "clean_up_tokenization_spaces": False}


def main():
    assert byte_to_unicode(0x20) == "\u0120" and byte_to_unicode(0x41) == "A"
    root = os.path.join(DATA_DIR, "tiny_models")
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isfile(os.path.join(folder, "config.json")):
            continue
        with open(os.path.join(folder, "config.json")) as f:
            assert json.load(f)["vocab_size"] == N_CHARACTERS + 1, name
        for file_name, content in (("tokenizer.json", tokenizer_json()), ("tokenizer_config.json", tokenizer_config())):
            with open(os.path.join(folder, file_name), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2, ensure_ascii=False)
                f.write("\n")
        print(name)


if __name__ == "__main__":
    main()
