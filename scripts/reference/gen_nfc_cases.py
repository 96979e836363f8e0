#!/usr/bin/env python3
"""NFC test cases for tests/test_unicode.cpp from the Unicode Consortium's own conformance file,
NormalizationTest.txt (Debian package unicode-data), so that CI needs neither the file nor Python.

Each line c1;c2;c3;c4;c5 states NFC(c1) = NFC(c2) = NFC(c3) = c2 and NFC(c4) = NFC(c5) = c4.
Parts 0, 2 and 3 (specific cases, canonical order, PRI #29) are kept whole; part 1 (one line
per character with a decomposition) is sampled every 8th line to keep the file small.
Writes tests/data/nfc_cases.json: [[input, expected], ...] as UTF-8 strings.

Run: /usr/bin/python3 scripts/reference/gen_nfc_cases.py [/usr/share/unicode/NormalizationTest.txt.bz2]
"""
import bz2
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "nfc_cases.json")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode/NormalizationTest.txt.bz2"
    cases = []
    part = None
    part1_line = 0
    with bz2.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("@Part"):
                part = line.split()[0]
                continue
            line = line.split("#")[0].strip()
            if not line:
                continue
            if part == "@Part1":
                part1_line += 1
                if part1_line % 8:
                    continue
            columns = ["".join(chr(int(x, 16)) for x in column.split()) for column in line.split(";")[:5]]
            c1, c2, c3, c4, c5 = columns
            for source, expected in ((c1, c2), (c2, c2), (c3, c2), (c4, c4), (c5, c4)):
                if [source, expected] not in cases[-5:]:
                    cases.append([source, expected])
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/reference/gen_nfc_cases.py", "source": "NormalizationTest.txt", "cases": cases},
                  f, ensure_ascii=False, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
