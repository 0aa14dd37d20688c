"""Bubblewrap for the tests that need it: skipped where it is absent, a failure under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest


def require_bwrap() -> None:
    if shutil.which("bwrap") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    pytest.skip("bubblewrap (bwrap) is not installed")
