"""Raw bundles of an experiment for offline analysis: `benchctl export`."""

from typing import Literal

# Here, not in bundle.py, so that `benchctl export --help` shows it without the database driver.
Format = Literal["jsonl", "csv"]
