"""Make the workspace under test importable, whatever the cwd and PYTHONPATH."""

import os
import sys
from pathlib import Path

_workspace = os.environ.get("BENCHCTL_WORKSPACE") or str(Path.cwd())
if _workspace not in sys.path:
    sys.path.insert(0, _workspace)
