"""Scorer of the slugify-tests task: mutation testing of the agent's tests.

Runs the agent's tests/ folder (copied out of the workspace, so the workspace's own
slugify.py cannot shadow the module under test) once against the real slugify.py (a pristine
copy in original/, so edits to the workspace's copy do not count) and once against every
mutant of it that mutants.py describes, each written as slugify.py on PYTHONPATH.

Writes $BENCHCTL_VERIFIER_DIR/reward.json:
  passes_on_original  1 if the tests pass (and at least one runs) on the real module
  mutants_killed      fraction of mutants the tests fail on (0 unless passes_on_original)
  test_count_ok       1 if at least MIN_TESTS test cases ran on the real module
  reward              passes_on_original * mutants_killed
and a junit.xml with one test case per check. Exits 0 once the scores are written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mutants import MUTANTS, mutate

HERE = Path(__file__).resolve().parent
TEST_FILE = "test_slugify.py"
MIN_TESTS = 8
TIMEOUT_S = 20  # per pytest run; the mutants run in parallel, so at most ~2x this


def run_suite(tests_dir: Path, module: str, scratch: Path, name: str) -> dict:
    """Run a private copy of the tests against the source *module*; return rc, counts and
    output."""
    base = scratch / name
    suite = base / "suite"
    impl = base / "impl"
    shutil.copytree(
        tests_dir, suite / "tests", ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    impl.mkdir(parents=True)
    (impl / "slugify.py").write_text(module)
    junit = base / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_")}
    env.update(PYTHONPATH=str(impl), PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--rootdir={suite}",
        f"--junitxml={junit}",
        "tests",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=suite,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = None  # timed out
    passed = 0
    if junit.exists():
        try:
            # Our own pytest run wrote this file.
            for case in ET.parse(junit).iter("testcase"):  # noqa: S314
                if not any(child.tag in ("failure", "error", "skipped") for child in case):
                    passed += 1
        except ET.ParseError:
            pass
    return {"rc": rc, "passed": passed, "output": out}


def main() -> int:
    workspace = Path(os.environ.get("BENCHCTL_WORKSPACE") or Path.cwd())
    out_dir = Path(os.environ.get("BENCHCTL_VERIFIER_DIR") or Path.cwd())
    tests_dir = workspace / "tests"
    real = (HERE / "original" / "slugify.py").read_text()
    mutants = sorted(MUTANTS)

    cases: list[tuple[str, str | None]] = []  # (name, failure message or None)
    scores = {"passes_on_original": 0.0, "mutants_killed": 0.0, "test_count_ok": 0.0}

    if not (tests_dir / TEST_FILE).is_file():
        print(f"FAIL tests/{TEST_FILE} not found in the workspace")
        cases.append(("passes_on_original", f"tests/{TEST_FILE} not found"))
    else:
        scratch = Path(tempfile.mkdtemp(prefix="slugify-score-"))
        try:
            original = run_suite(tests_dir, real, scratch, "original")
            ok = original["rc"] == 0 and original["passed"] > 0
            scores["passes_on_original"] = 1.0 if ok else 0.0
            scores["test_count_ok"] = 1.0 if ok and original["passed"] >= MIN_TESTS else 0.0
            if ok:
                print(f"PASS original: {original['passed']} tests pass on the real slugify.py")
                cases.append(("passes_on_original", None))
            else:
                how = "timed out" if original["rc"] is None else f"rc={original['rc']}"
                print(f"FAIL original: tests do not pass on the real slugify.py ({how})")
                print(original["output"][-4000:])
                cases.append(("passes_on_original", f"rc={original['rc']}"))
            count_msg = f"{original['passed']} passing test cases, want >= {MIN_TESTS}"
            cases.append(("test_count_ok", None if scores["test_count_ok"] else count_msg))
            if ok:
                with ThreadPoolExecutor(max_workers=len(mutants)) as pool:
                    results = list(
                        pool.map(
                            lambda m: run_suite(tests_dir, mutate(real, m), scratch, m), mutants
                        )
                    )
                killed = 0
                for mutant, res in zip(mutants, results, strict=True):
                    # Failing tests (rc 1), errors or a timeout all count as killing the mutant.
                    is_killed = res["rc"] != 0
                    killed += is_killed
                    how = "timeout" if res["rc"] is None else f"rc={res['rc']}"
                    print(f"{'KILLED' if is_killed else 'SURVIVED'} {mutant} ({how})")
                    cases.append((f"kills_{mutant}", None if is_killed else "mutant survived"))
                scores["mutants_killed"] = killed / len(mutants)
            else:
                for mutant in mutants:
                    cases.append((f"kills_{mutant}", "not run: tests fail on the original"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    reward = scores["passes_on_original"] * scores["mutants_killed"]
    result = {"reward": round(reward, 6), **{k: round(v, 6) for k, v in scores.items()}}
    (out_dir / "reward.json").write_text(json.dumps(result, sort_keys=True) + "\n")

    suite_el = ET.Element(
        "testsuite",
        name="slugify-tests",
        tests=str(len(cases)),
        failures=str(sum(msg is not None for _, msg in cases)),
        errors="0",
        skipped="0",
    )
    for name, msg in cases:
        case_el = ET.SubElement(suite_el, "testcase", classname="slugify_tests", name=name)
        if msg is not None:
            ET.SubElement(case_el, "failure", message=msg)
    root = ET.Element("testsuites")
    root.append(suite_el)
    ET.ElementTree(root).write(out_dir / "junit.xml", encoding="utf-8", xml_declaration=True)

    print("reward.json:", json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
