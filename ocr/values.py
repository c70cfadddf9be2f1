"""A cell's text as the value the template expects: an `int`, an exact `Decimal`, or text.

OCR varies how a number is printed in ways that do not change it: full-width forms, spaces, thousands
separators, a lone dash for none, letters that look like digits (O, l, S, B), specks beside the figure.
Parsing undoes those, and says what it had to undo, so repair can weigh a reading by how much of it was
rewritten. Decimals never pass through a float.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from ocr.model import FieldValue, ValueType

# A lone printed dash (and what readers make of one: dashes, minus signs, the character 一) means none.
_DASHES = frozenset("-‐‑‒–—―−ー一")
# Letters and marks OCR gives for digits; applied only where the template expects a number.
_CONFUSIONS = str.maketrans({
    "O": "0", "o": "0", "D": "0", "Q": "0", "〇": "0",
    "l": "1", "I": "1", "|": "1", "i": "1", "!": "1",
    "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2", "G": "6", "g": "9", "q": "9",
})
_DECIMAL_POINTS = str.maketrans({"。": ".", "·": ".", "•": "."})
# Specks and marks OCR puts beside a figure ("…、9", ".3", "' 0"); never a confusion letter like '!' or '|'.
_JUNK = ".,、。，…·'\"‘’“”`:;：；?？()（）[]【】_~*"
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Parsed:
    value: FieldValue
    changed: bool
    dash: bool = False
    guessed: bool = False  # no digit was printed: the number comes from letter shapes alone
    stripped: bool = False  # marks beside the figure were dropped (a speck read as '.', '、' or a quote)


def parse(text: str, value_type: ValueType) -> Parsed:
    raw = text.strip()
    if value_type == "text":
        clean = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw))
        return Parsed(clean or None, clean != raw)
    s = _SPACES.sub("", unicodedata.normalize("NFKC", raw))
    if not s:
        return Parsed(None, False)
    if len(s) == 1 and s in _DASHES:
        return Parsed(0 if value_type == "integer" else Decimal(0), raw != "-", dash=True)
    core = s.strip(_JUNK if value_type == "integer" else _JUNK.replace(".", ""))
    stripped = bool(core) and core != s
    s = core or s
    if value_type == "decimal":
        s = s.translate(_DECIMAL_POINTS)
    digits = s.translate(_CONFUSIONS)
    if not _NUMBER.fullmatch(digits):
        return Parsed(None, False)
    plain = digits.replace(",", "")
    if value_type == "integer":
        if "." in plain:  # counts are printed whole: "1.2" is a speck or two figures, not a number to round
            return Parsed(None, False)
        value: int | Decimal = int(plain)
    else:
        value = Decimal(plain)
    return Parsed(value, str(value) != raw, guessed=not any("0" <= ch <= "9" for ch in s), stripped=stripped)


def normalize(text: str, value_type: ValueType) -> tuple[FieldValue, bool]:
    """The value a cell's text stands for, and whether getting it meant rewriting the text.

    Full-width forms, spaces, thousands separators and (in numbers only) letters OCR gives for digits
    are undone; a lone dash is 0; blank or unparseable text is None. Decimals are exact.
    """
    parsed = parse(text, value_type)
    return parsed.value, parsed.changed


__all__ = ["Parsed", "normalize", "parse"]
