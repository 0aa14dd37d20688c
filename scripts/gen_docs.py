"""Regenerate the generated blocks of docs/manifests.md (``--check``: exit 1 if stale)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchctl.manifests.reference import fill_blocks, generated_blocks

DOC = Path(__file__).resolve().parent.parent / "docs" / "manifests.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; fail when stale")
    args = parser.parse_args()
    current = DOC.read_text(encoding="utf-8")
    fresh = fill_blocks(current, generated_blocks())
    if fresh == current:
        print(f"{DOC.name} is up to date.")
        return 0
    if args.check:
        print(f"{DOC} is stale: run `python scripts/gen_docs.py` and commit.", file=sys.stderr)
        return 1
    DOC.write_text(fresh, encoding="utf-8")
    print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
