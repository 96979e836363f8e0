#!/usr/bin/env python3
"""Reference pre-token splits for tests/test_pretokenize.cpp, computed with the `regex`
module (an independent engine with \\p{..} support and the same leftmost-first semantics as
Oniguruma, which Hugging Face tokenizers use) on the patterns of real tokenizer.json files.

Writes tests/data/pretokenize_splits.json: {"cases": [{"pattern": name, "text": s,
"pieces": [...]}, ...]}. Every pattern applies HF's Split(behavior=Isolated): the matches
and the text between them are pieces, in order. "deepseek-llm" applies its six Splits one
after the other, each to every piece of the previous one.

Run: /usr/bin/python3 scripts/reference/gen_pretokenize.py
"""
import json
import os

import regex

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "pretokenize_splits.json")
SHARED = os.environ.get("LLMPP_SHARED_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared"))

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
# DeepSeek LLM's tokenizer.json Split regexes; \u escapes keep three Greek Extended range ends
# from being normalised into look-alikes.
DEEPSEEK_LLM = [
    "[\r\n]",
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+",
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    "\\s+$",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    "\\p{N}+",
]

EXTRA_TEXTS = [
    "I'M here, 'Tis they'RE 'll 'LL 'Ve don't DON'T",
    "''s 's's x's 'x '",
    "  leading and trailing  ",
    "a\n\nb\r\n\r\nc \n d  \n\n  e\t\t\nf",
    "tabs\t\tand\u00a0nbsp\u3000ideographic\u2028line\u2029para\u2003em",
    "1234567 12.5e10 ١٢٣٤ Ⅻ ½ ²³",
    "café naïve Ελληνικά русский עברית العربية हिन्दी 日本語 한국어 ไทย",
    "e\u0301 a\u0308 combining \u0301marks",
    "emoji 👍🏽 👨‍👩‍👧 flags 🇫🇷 and ZWJ",
    "$$$ %%% &&& *** ((( ))) <<< >>> ... ,,, ;;; ::: !!! ???",
    "CamelCaseWord snake_case_word kebab-case-word",
    "   ",
    "\n",
    " ",
    "x",
    "!\n\n",
    " !\r\n",
    "Ｆｕｌｌｗｉｄｔｈ！ ＡＢＣ　ｘｙｚ。",
    "ὯὰΐῘ ᾀᾁ µ ſ 'ſ x'ſ 'K '\u212a",
    "code: for (int i = 0; i < 10; ++i) { x += i * 2; }",
]


def isolated_split(pattern, text):
    pieces = []
    position = 0
    for match in regex.finditer(pattern, text):
        if match.start() > position:
            pieces.append(text[position:match.start()])
        if match.end() > match.start():
            pieces.append(match.group())
        position = match.end()
    if position < len(text):
        pieces.append(text[position:])
    return pieces


def sequence_split(patterns, text):
    pieces = [text] if text else []
    for pattern in patterns:
        pieces = [part for piece in pieces for part in isolated_split(pattern, piece)]
    return pieces


def vocab_test_strings():
    path = os.path.join(SHARED, "vocab", "ggml-vocab-gpt-2.gguf.inp")
    with open(path, encoding="utf-8", newline="") as f:
        raw = f.read()
    return raw.split("\n__ggml_vocab_test__\n")[:-1]


def main():
    texts = vocab_test_strings() + EXTRA_TEXTS
    cases = []
    for text in texts:
        for name, patterns in (("gpt2", [GPT2]), ("llama3", [LLAMA3]), ("qwen2", [QWEN2]), ("deepseek-llm", DEEPSEEK_LLM)):
            cases.append({"pattern": name, "text": text, "pieces": sequence_split(patterns, text)})
    with open(DATA, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/reference/gen_pretokenize.py", "regex_version": regex.__version__, "cases": cases},
                  f, ensure_ascii=True, indent=0)
    print(f"wrote {len(cases)} cases to {DATA}")


if __name__ == "__main__":
    main()
