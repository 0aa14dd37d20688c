"""Tests for slugify.slugify -- to be written (see the task instructions)."""

from slugify import slugify  # noqa: F401
