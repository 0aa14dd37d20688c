"""The mutants the agent's tests must kill: each is the real module (original/slugify.py) with
one deliberate bug, written as the text it replaces and its replacement."""

from __future__ import annotations

SLUG_LINE = "    slug = sep.join(_WORD.findall(ascii_text.lower()))\n"
CUT = 'slug = _TRAILING_NON_ALNUM.sub("", slug[:max_length])'
CHECKS = """\
    if not sep or re.search(r"[A-Za-z0-9]", sep):
        raise ValueError("sep must be a non-empty string without letters or digits")
    if max_length is not None and max_length < 0:
        raise ValueError("max_length must be >= 0")
"""

MUTANTS: dict[str, list[tuple[str, str]]] = {
    "m1_keeps_case": [
        ('_WORD = re.compile(r"[a-z0-9]+")', '_WORD = re.compile(r"[A-Za-z0-9]+")'),
        ('re.compile(r"[^a-z0-9]+$")', 're.compile(r"[^A-Za-z0-9]+$")'),
        ("ascii_text.lower()", "ascii_text"),
    ],
    "m2_drops_accented_letters": [('"NFKD"', '"NFC"')],
    "m3_no_collapse": [
        (
            SLUG_LINE,
            '    slug = re.sub(r"[^a-z0-9]", sep, ascii_text.lower())\n'
            "    while slug.startswith(sep):\n"
            "        slug = slug[len(sep) :]\n"
            "    while slug.endswith(sep):\n"
            "        slug = slug[: -len(sep)]\n",
        )
    ],
    "m4_keeps_edge_separators": [
        (SLUG_LINE, '    slug = re.sub(r"[^a-z0-9]+", sep, ascii_text.lower())\n')
    ],
    "m5_ignores_sep": [("sep.join(_WORD", '"-".join(_WORD')],
    "m6_cut_leaves_separator": [(CUT, "slug = slug[:max_length]")],
    "m7_ignores_max_length": [(CUT, "pass")],
    "m8_drops_digits": [('_WORD = re.compile(r"[a-z0-9]+")', '_WORD = re.compile(r"[a-z]+")')],
    "m9_no_argument_checks": [(CHECKS, "")],
}


def mutate(source: str, name: str) -> str:
    """The source of mutant ``name``; each replaced text must occur exactly once."""
    for old, new in MUTANTS[name]:
        if source.count(old) != 1:
            raise ValueError(f"mutant {name}: {old!r} is not in the module exactly once")
        source = source.replace(old, new)
    return source
