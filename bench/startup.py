"""Start-up: what every `benchctl` command pays before it does anything, against bare Python.

Times, alternating in the same run so machine noise hits all three alike:

* baseline: ``python -c pass`` (the interpreter alone);
* ``benchctl --version`` (imports the whole CLI, does nothing);
* ``benchctl validate`` on the example repository (imports, then loads and checks 28 files).

Each is a fresh subprocess of the Python running this script, so run it from the venv whose
install you want to measure (the base profile is what users of plain `pip install benchctl`
get). Prints medians and each command's ratio to the baseline.

    python bench/startup.py                 # 15 rounds
    python bench/startup.py --rounds 31 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "benchctl --version": [sys.executable, "-m", "benchctl", "--version"],
    "benchctl validate": [sys.executable, "-m", "benchctl", "validate", "--root", str(REPO)],
}


def once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache and bytecode
        once(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            times[name].append(once(argv))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["python -c pass"]
    figures = {
        name: {"median_s": round(m, 4), "ratio": round(m / baseline, 1)}
        for name, m in medians.items()
    }
    if args.json:
        print(json.dumps({"rounds": args.rounds, "python": sys.version.split()[0], **figures}))
        return
    print(f"{args.rounds} rounds, medians, Python {sys.version.split()[0]}:")
    for name, figure in figures.items():
        print(f"  {name:<20} {figure['median_s'] * 1000:7.0f} ms  {figure['ratio']:5.1f}x")


if __name__ == "__main__":
    main()
