"""Unit tests of the located YAML loader (pure logic on small files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchctl.manifests.yaml_source import YamlDocument, load_yaml


def load(tmp_path: Path, text: str) -> YamlDocument:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_yaml(path)
    assert isinstance(result, YamlDocument), result
    return result


def problems(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_yaml(path)
    assert isinstance(result, list), result
    return [(d.line, d.col, d.code) for d in result]


def test_locate_values_and_keys(tmp_path: Path):
    doc = load(tmp_path, "a:\n  b: [1, 2]\n  c:\n    - {d: x}\n")
    assert doc.locate(("a", "b")) == (2, 6)
    assert doc.locate(("a", "b", 1)) == (2, 10)
    assert doc.locate(("a", "c", 0, "d")) == (4, 11)
    assert doc.locate(("a", "c", 0, "d"), key=True) == (4, 8)
    assert doc.locate(("a", "c"), key=True) == (3, 3)
    # unknown segments are skipped: the deepest existing node is the answer
    assert doc.locate(("a", "nope")) == (2, 3)


def test_scalar_types_follow_yaml_but_dates_stay_text(tmp_path: Path):
    doc = load(tmp_path, "i: 0x1f\nf: 1.5e+3\nb: true\nn: ~\nd: 2024-01-01\ns: '007'\n")
    assert doc.data == {"i": 31, "f": 1500.0, "b": True, "n": None, "d": "2024-01-01", "s": "007"}


def test_anchors_aliases_and_merge_keys(tmp_path: Path):
    doc = load(
        tmp_path,
        "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: &l [1]\ncopy: *l\n",
    )
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.data["copy"] == [1]


def test_every_duplicate_key_is_reported(tmp_path: Path):
    assert problems(tmp_path, "a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n") == [
        (3, 1, "BC106"),
        (6, 3, "BC106"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!python/object:os.system x\n", [(1, 4, "BC112")]),
        ("a: !custom {x: 1}\n", [(1, 4, "BC112")]),
        ("? [1, 2]\n: x\n", [(1, 3, "BC111")]),
        ("", [(0, 0, "BC109")]),
        ("# nothing\n", [(0, 0, "BC109")]),
        ("~\n", [(0, 0, "BC109")]),
        ("- a\n- b\n", [(1, 1, "BC110")]),
        ("a: 1\n---\nb: 2\n", [(3, 1, "BC108")]),  # where the second document begins
        ("a:\n\tb: 1\n", [(2, 1, "BC105")]),
        ("a: [1, 2\nb: 3\n", [(2, 2, "BC104")]),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, expected: list[tuple[int, int, str]]):
    assert problems(tmp_path, text) == expected


def test_depth_limit(tmp_path: Path):
    deep = "a: " + "[" * 70 + "]" * 70 + "\n"
    assert [code for _, _, code in problems(tmp_path, deep)] == ["BC113"]
    load(tmp_path, "a: " + "[" * 60 + "]" * 60 + "\n")


DEEP_CASES = {
    "flow-5000": ("x: " + "[" * 5_000 + "]" * 5_000 + "\n", (1, 68)),
    "flow-maps-5000": ("{a: " * 5_000 + "1" + "}" * 5_000 + "\n", (1, 261)),
    "block-5000": ("- " * 5_000 + "x\n", (1, 131)),
    "staircase": ("x:\n" + "".join(" " * i + "- \n" for i in range(1, 1_400)), (66, 66)),
}


@pytest.fixture(
    params=[None, 2**31 - 1, 1_000, 65],
    ids=["installed", "pyyaml-6.0.3-unlimited", "pyyaml-6.0.4-default", "libyaml-at-our-limit"],
)
def libyaml_nest_limit(request: pytest.FixtureRequest):
    """libyaml's own nesting limit as each PyYAML release sets it (6.0.4 added it, at 1000)."""
    import yaml._yaml as yaml_c

    get = getattr(yaml_c, "_get_max_nest_level", None)
    set_ = getattr(yaml_c, "_set_max_nest_level", None)
    if request.param is None:
        yield
        return
    assert get is not None and set_ is not None, "the lock pins a PyYAML with the nest-level API"
    before = get()
    set_(request.param)
    yield
    set_(before)


@pytest.mark.parametrize("case", DEEP_CASES)
def test_too_deep_is_ours_whatever_libyaml_allows(tmp_path: Path, libyaml_nest_limit, case: str):
    text, where = DEEP_CASES[case]
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    result = load_yaml(path)
    assert isinstance(result, list)
    assert [(d.line, d.col, d.code, d.message) for d in result] == [
        (*where, "BC113", "values are nested more than 64 levels deep")
    ]


def test_crlf_and_bom(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\r\nb:\r\n  c: 2\r\n")
    doc = load_yaml(path)
    assert isinstance(doc, YamlDocument)
    assert doc.data == {"a": 1, "b": {"c": 2}}
    assert doc.locate(("b", "c")) == (3, 6)


def test_unreadable_path(tmp_path: Path):
    result = load_yaml(tmp_path)
    assert isinstance(result, list)
    assert result[0].code == "BC100"
