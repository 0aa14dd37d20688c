"""Tests for slugify.slugify (reference solution of the slugify-tests task)."""

import pytest
from slugify import slugify


def test_basic_phrase():
    assert slugify("Hello, World!") == "hello-world"


def test_lowercases():
    assert slugify("ABC Def") == "abc-def"


def test_transliterates_accented_letters():
    assert slugify("Café au lait") == "cafe-au-lait"
    assert slugify("Ünïcödé") == "unicode"


def test_drops_other_non_ascii():
    assert slugify("snow ☃ man") == "snow-man"


def test_keeps_digits():
    assert slugify("Route 66") == "route-66"
    assert slugify("2024") == "2024"


def test_collapses_runs_of_separators():
    assert slugify("a  --  b") == "a-b"
    assert slugify("one,two;;three") == "one-two-three"


def test_strips_leading_and_trailing_separators():
    assert slugify("  --hello--  ") == "hello"
    assert slugify("!wow!") == "wow"


def test_custom_separator():
    assert slugify("Hello World", sep="_") == "hello_world"
    assert slugify("a b c", sep="::") == "a::b::c"


def test_max_length_cuts():
    assert slugify("abcdefgh", max_length=3) == "abc"
    assert slugify("hello world", max_length=8) == "hello-wo"


def test_max_length_longer_than_slug_is_a_no_op():
    assert slugify("hello world", max_length=50) == "hello-world"


def test_max_length_removes_separator_left_by_cut():
    assert slugify("hello world foo", max_length=6) == "hello"
    assert slugify("a b c", sep="::", max_length=2) == "a"
    assert slugify("a b c", sep="::", max_length=3) == "a"


def test_max_length_zero():
    assert slugify("hello", max_length=0) == ""


@pytest.mark.parametrize("text", ["", "   ", "!!!", "☃☃"])
def test_nothing_to_keep_gives_empty_string(text):
    assert slugify(text) == ""


@pytest.mark.parametrize("sep", ["", "x", "1"])
def test_rejects_bad_separator(sep):
    with pytest.raises(ValueError):
        slugify("a b", sep=sep)


def test_rejects_negative_max_length():
    with pytest.raises(ValueError):
        slugify("a b", max_length=-1)
