#!/usr/bin/env python3
"""Writes include/llmpp/tokenizer/unicode_tables.hpp from the Unicode Character Database.

The pre-tokenizer regexes of Hugging Face tokenizers use \\p{L}, \\p{N}, ... (general category
groups) and \\s (the White_Space property: Oniguruma's and Rust regex's \\s both mean it). The
tables hold both as sorted, merged code point ranges so that C++ can binary-search them.

Also the canonical combining classes and decompositions that NFC needs (the NFC normalizer of
Qwen2/3's tokenizer.json).

Input: Debian's `unicode-data` package (/usr/share/unicode/UnicodeData.txt, PropList.txt and
DerivedNormalizationProps.txt),
or another directory given as the first argument. Usage:

    python3 scripts/gen_unicode_tables.py [/usr/share/unicode] > include/llmpp/tokenizer/unicode_tables.hpp
"""
import os
import re
import sys

MAX_CODE_POINT = 0x10FFFF

# First letter of the two-letter general category -> the C++ enumerator of its group.
GROUP_NAMES = {
    "L": "letter", "M": "mark", "N": "number", "P": "punctuation",
    "S": "symbol", "Z": "separator", "C": "other",
}
SHORT_NAMES = {"letter": "L", "mark": "M", "number": "N", "punctuation": "P",
               "symbol": "S", "separator": "Z", "other": "C"}


def read_categories(path):
    """Returns a list of (first, last, group) covering only the assigned code points."""
    assigned = []
    range_first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 3:
                continue
            code_point = int(fields[0], 16)
            name, category = fields[1], fields[2]
            group = GROUP_NAMES[category[0]]
            if name.endswith(", First>"):  # a range such as <CJK Ideograph, First> .. <..., Last>
                range_first = code_point
                continue
            if name.endswith(", Last>"):
                assigned.append((range_first, code_point, group))
                range_first = None
                continue
            assigned.append((code_point, code_point, group))
    return assigned


def merge_ranges(assigned):
    """Fills the gaps (unassigned code points, category Cn) with 'other' and merges runs."""
    merged = []

    def push(first, last, group):
        if merged and merged[-1][2] == group and merged[-1][1] + 1 == first:
            merged[-1] = (merged[-1][0], last, group)
        else:
            merged.append((first, last, group))

    next_code_point = 0
    for first, last, group in sorted(assigned):
        if first > next_code_point:
            push(next_code_point, first - 1, "other")
        push(first, last, group)
        next_code_point = last + 1
    if next_code_point <= MAX_CODE_POINT:
        push(next_code_point, MAX_CODE_POINT, "other")
    return merged


def read_property(path, property_name):
    """Code point ranges with `property_name` in a PropList.txt-style file, merged."""
    ranges = []
    pattern = re.compile(r"^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*(\w+)")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = pattern.match(line)
            if not m or m.group(3) != property_name:
                continue
            first = int(m.group(1), 16)
            last = int(m.group(2), 16) if m.group(2) else first
            ranges.append((first, last))
    ranges.sort()
    merged = []
    for first, last in ranges:
        if merged and merged[-1][1] + 1 == first:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def read_normalization(directory):
    """Canonical combining classes (merged ranges of nonzero classes) and canonical
    decompositions (code point -> one or two code points, and whether the pair recomposes)."""
    combining = []
    decompositions = []
    with open(os.path.join(directory, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 6:
                continue
            code_point = int(fields[0], 16)
            ccc = int(fields[3])
            if ccc:
                if combining and combining[-1][1] + 1 == code_point and combining[-1][2] == ccc:
                    combining[-1] = (combining[-1][0], code_point, ccc)
                else:
                    combining.append((code_point, code_point, ccc))
            mapping = fields[5]
            if mapping and not mapping.startswith("<"):  # canonical, not compatibility
                parts = [int(x, 16) for x in mapping.split()]
                decompositions.append((code_point, parts[0], parts[1] if len(parts) > 1 else 0))
    excluded = set()
    for first, last in read_property(os.path.join(directory, "DerivedNormalizationProps.txt"), "Full_Composition_Exclusion"):
        excluded.update(range(first, last + 1))
    decompositions = [(cp, a, b, 0 if cp in excluded or b == 0 else 1) for cp, a, b in decompositions]
    return combining, decompositions


def read_nfc_quick_check(directory):
    """Merged ranges whose NFC_Quick_Check is No or Maybe."""
    ranges = []
    pattern = re.compile(r"^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*NFC_QC\s*;\s*[NM]")
    with open(os.path.join(directory, "DerivedNormalizationProps.txt"), encoding="utf-8") as f:
        for line in f:
            m = pattern.match(line)
            if m:
                first = int(m.group(1), 16)
                ranges.append((first, int(m.group(2), 16) if m.group(2) else first))
    ranges.sort()
    merged = []
    for first, last in ranges:
        if merged and merged[-1][1] + 1 == first:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged


def unicode_version(directory):
    readme = os.path.join(directory, "ReadMe.txt")
    try:
        with open(readme, encoding="utf-8") as f:
            m = re.search(r"Version (\d+\.\d+\.\d+)", f.read())
            if m:
                return m.group(1)
    except OSError:
        pass
    return "unknown"


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
    categories = merge_ranges(read_categories(os.path.join(directory, "UnicodeData.txt")))
    white_space = read_property(os.path.join(directory, "PropList.txt"), "White_Space")
    version = unicode_version(directory)
    combining, decompositions = read_normalization(directory)
    quick_check = read_nfc_quick_check(directory)

    out = []
    out.append("// Generated by scripts/gen_unicode_tables.py from the Unicode Character Database")
    out.append(f"// (UnicodeData.txt, PropList.txt, DerivedNormalizationProps.txt, Unicode {version}). Do not edit: rerun the script.")
    out.append("#pragma once")
    out.append("")
    out.append("#include <cstdint>")
    out.append("")
    out.append("namespace llmpp::tokenizer {")
    out.append("")
    out.append("// General category groups, as regexes name them: \\p{L}, \\p{M}, \\p{N}, \\p{P}, \\p{S},")
    out.append("// \\p{Z}, \\p{C}. Unassigned code points (Cn) and surrogates (Cs) are `other`.")
    out.append("enum class UnicodeCategory : uint8_t { other, letter, mark, number, punctuation, symbol, separator };")
    out.append("")
    out.append("namespace unicode_tables {")
    out.append("")
    out.append("struct CategoryRange {")
    out.append("  uint32_t first, last;  // inclusive")
    out.append("  UnicodeCategory category;")
    out.append("};")
    out.append("")
    for name, short in SHORT_NAMES.items():
        out.append(f"constexpr UnicodeCategory {short} = UnicodeCategory::{name};")
    out.append("")
    out.append(f"// ({len(categories)}) consecutive ranges covering U+0000..U+10FFFF.")
    out.append("inline constexpr CategoryRange category_ranges[] = {")
    line = " "
    for first, last, group in categories:
        item = f" {{0x{first:X}, 0x{last:X}, {SHORT_NAMES[group]}}},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = " "
        line += item
    out.append(line)
    out.append("};")
    out.append("")
    out.append(f"// ({len(white_space)}) ranges with the White_Space property: what \\s matches.")
    out.append("inline constexpr uint32_t white_space_ranges[][2] = {")
    line = " "
    for first, last in white_space:
        item = f" {{0x{first:X}, 0x{last:X}}},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = " "
        line += item
    out.append(line)
    out.append("};")
    out.append("")
    out.append("// Canonical_Combining_Class, for NFC: ({}) ranges of code points with a nonzero class.".format(len(combining)))
    out.append("struct CombiningClassRange {")
    out.append("  uint32_t first, last;")
    out.append("  uint8_t combining_class;")
    out.append("};")
    out.append("inline constexpr CombiningClassRange combining_class_ranges[] = {")
    line = " "
    for first, last, ccc in combining:
        item = f" {{0x{first:X}, 0x{last:X}, {ccc}}},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = " "
        line += item
    out.append(line)
    out.append("};")
    out.append("")
    out.append("// Canonical decompositions, for NFC ({}), sorted by code point: code point -> first, second".format(len(decompositions)))
    out.append("// (0 for a singleton); composes = the pair recombines (not Full_Composition_Exclusion).")
    out.append("struct CanonicalDecomposition {")
    out.append("  uint32_t code_point, first, second;")
    out.append("  bool composes;")
    out.append("};")
    out.append("inline constexpr CanonicalDecomposition canonical_decompositions[] = {")
    line = " "
    for cp, a, b, composes in decompositions:
        item = f" {{0x{cp:X}, 0x{a:X}, 0x{b:X}, {'true' if composes else 'false'}}},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = " "
        line += item
    out.append(line)
    out.append("};")
    out.append("")
    out.append(f"// ({len(quick_check)}) ranges whose NFC_Quick_Check is No or Maybe: text without them (and with")
    out.append("// its combining marks in canonical order) is already in NFC.")
    out.append("inline constexpr uint32_t nfc_quick_check_ranges[][2] = {")
    line = " "
    for first, last in quick_check:
        item = f" {{0x{first:X}, 0x{last:X}}},"
        if len(line) + len(item) > 100:
            out.append(line)
            line = " "
        line += item
    out.append(line)
    out.append("};")
    out.append("")
    out.append("}  // namespace unicode_tables")
    out.append("}  // namespace llmpp::tokenizer")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
