"""The API's OpenAPI document, committed as ``schemas/openapi.json`` and kept in sync by a
test, like the manifests' and the report's schemas.

    python -m benchctl.serve.openapi            # write schemas/openapi.json
    python -m benchctl.serve.openapi --check    # exit 1 if the committed file is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchctl.serve.app import create_app
from benchctl.serve.config import ServeConfig
from benchctl.settings import Settings

FILE = Path("schemas") / "openapi.json"


def document() -> str:
    # No database is touched: the app connects only when a server starts.
    app = create_app(ServeConfig(settings=Settings(root=Path(), database_url=None, proxy_url=None)))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = document()
    if "--check" in argv:
        if not FILE.is_file() or FILE.read_text(encoding="utf-8") != text:
            print(f"{FILE} is out of date: run `python -m benchctl.serve.openapi`", file=sys.stderr)
            return 1
        print(f"{FILE} is up to date.")
        return 0
    FILE.write_text(text, encoding="utf-8")
    print(f"wrote {FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
