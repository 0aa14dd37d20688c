"""Turn arbitrary text into URL-friendly slugs.

MUTANT m4_keeps_edge_separators: a deliberately wrong copy used to score the agent's tests.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["slugify"]

_WORD = re.compile(r"[a-z0-9]+")
_TRAILING_NON_ALNUM = re.compile(r"[^a-z0-9]+$")


def slugify(text: str, sep: str = "-", max_length: int | None = None) -> str:
    """Return a slug for *text*.

    - Accented letters are transliterated to ASCII ("Café" -> "cafe"); other non-ASCII
      characters are dropped.
    - The result is lowercase.
    - Every run of characters other than ASCII letters and digits becomes a single *sep*.
    - The slug never starts or ends with *sep*.
    - With *max_length*, the slug is cut to at most that many characters, and a separator
      (or part of one) left at the end by the cut is removed.
    - Text without ASCII letters or digits gives "".

    Raises ValueError if *sep* is empty or contains an ASCII letter or digit, or if
    *max_length* is negative.
    """
    if not sep or re.search(r"[A-Za-z0-9]", sep):
        raise ValueError("sep must be a non-empty string without letters or digits")
    if max_length is not None and max_length < 0:
        raise ValueError("max_length must be >= 0")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", sep, ascii_text.lower())
    if max_length is not None and len(slug) > max_length:
        slug = _TRAILING_NON_ALNUM.sub("", slug[:max_length])
    return slug
