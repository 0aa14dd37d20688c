"""Hostile inputs, generated at test time, through the real command in a child process.

Manifests arrive in pull requests (docs/security.md). Each input here runs through
``python -m benchctl validate`` in a subprocess with a timeout, so a crash (libyaml's C composer
overflows the stack on very deep nesting), a hang or a traceback fails the test instead of
taking pytest down. Every refusal must be a clean exit 1 with the right code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minirepo import FILES, write_minirepo

TIMEOUT = 60.0
# Time a hostile input may add to a plain run (interpreter start-up and imports included there).
EXTRA_SECONDS = 2.0
# Memory a refused 50 MB file may add to a plain run: reading it would add at least 50 MB.
EXTRA_KB = 20 * 1024

VARIANT_HEAD = """\
apiVersion: benchctl/v1
kind: Variant
metadata:
  name: v
spec:
  provider: sim
  model: sim-fast
  harness_profile: script
  request:
    extra:
"""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_kb: int | None  # peak resident memory of the child, when measured

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = json.loads(self.stdout)["diagnostics"]
        return found

    def found(self) -> list[tuple[str, int, int, str]]:
        """(file name, line, col, code) of every diagnostic."""
        return [(Path(d["path"]).name, d["line"], d["col"], d["code"]) for d in self.diagnostics]


_MARK = "[benchctl-test peak-kb] "
# `python -m benchctl`, plus a hook that reports the child's peak memory. VmHWM counts the
# process image after exec only; getrusage would also count the forked copy of pytest itself.
_MEASURED_MAIN = """
import atexit, runpy, sys
def _report_peak_memory():
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return
    sys.stderr.write("\\n" + MARK + kb + "\\n")
atexit.register(_report_peak_memory)
sys.argv[0] = "benchctl"
runpy.run_module("benchctl", run_name="__main__", alter_sys=True)
""".replace("MARK", repr(_MARK))


def run_validate(root: Path, *, measure_memory: bool = False) -> Run:
    """``python -m benchctl validate --root ROOT --format json`` in a child process."""
    args = ["validate", "--root", str(root), "--format", "json"]
    if measure_memory:
        cmd = [sys.executable, "-c", _MEASURED_MAIN, *args]
    else:
        cmd = [sys.executable, "-m", "benchctl", *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out, err = exc.stdout or b"", exc.stderr or b""
        return Run(
            -9, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), TIMEOUT, None
        )
    seconds = time.monotonic() - start
    stderr = proc.stderr.decode("utf-8", "replace")
    peak = None
    if _MARK in stderr:
        stderr, _, kb = stderr.rpartition(_MARK)
        peak = int(kb.strip())
    return Run(
        proc.returncode, proc.stdout.decode("utf-8", "replace"), stderr.rstrip(), seconds, peak
    )


def assert_refused(run: Run, code: str) -> None:
    """A clean refusal: exit 1 (a negative code is a signal: a crash or the timeout), JSON out,
    no traceback, and ``code`` among the diagnostics."""
    assert run.returncode == 1, (
        f"exit code {run.returncode} after {run.seconds:.1f}s (negative: killed by signal"
        f" {-run.returncode}, a crash or the {TIMEOUT:.0f}s timeout)\n{run.stderr[-3000:]}"
    )
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    codes = [d["code"] for d in run.diagnostics]
    assert code in codes, run.stdout
    for d in run.diagnostics:
        assert d["message"].strip() and d["hint"].strip(), d


def assert_accepted(run: Run) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-3000:]
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.diagnostics == []


def manifest(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A plain run over a small valid repository: the yardstick for time and memory."""
    root = write_minirepo(tmp_path_factory.mktemp("baseline"))
    run = run_validate(root, measure_memory=True)
    assert_accepted(run)
    return run


def test_50_mb_file_is_refused_without_being_read(tmp_path: Path, baseline: Run):
    chunk = ("  description: " + "x" * 1008 + "\n") * 1024  # 1 MiB of YAML
    path = tmp_path / "providers" / "big.yaml"
    path.parent.mkdir()
    with path.open("w", encoding="utf-8") as fh:
        fh.write("apiVersion: benchctl/v1\nkind: Provider\nmetadata:\n  name: big\n")
        for _ in range(50):
            fh.write(chunk)
    assert path.stat().st_size > 50 * 1024 * 1024
    run = run_validate(tmp_path, measure_memory=True)
    assert_refused(run, "BC101")
    assert run.found() == [("big.yaml", 0, 0, "BC101")]
    assert run.seconds < baseline.seconds + EXTRA_SECONDS
    if run.peak_kb is not None and baseline.peak_kb is not None:  # Linux
        assert run.peak_kb < baseline.peak_kb + EXTRA_KB, "the whole file was read"


def test_binary_file_is_refused(tmp_path: Path):
    png_like = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    manifest(tmp_path, "providers/logo.yaml", png_like)
    run = run_validate(tmp_path)
    assert_refused(run, "BC102")
    assert run.found() == [("logo.yaml", 0, 0, "BC102")]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_symlink_to_an_endless_device_is_refused(tmp_path: Path, baseline: Run):
    (tmp_path / "providers").mkdir()
    try:
        (tmp_path / "providers" / "zero.yaml").symlink_to("/dev/zero")
    except OSError:  # pragma: no cover - no symlinks here
        pytest.skip("cannot create symlinks")
    run = run_validate(tmp_path)
    assert_refused(run, "BC114")
    assert run.seconds < baseline.seconds + EXTRA_SECONDS


def _laughs_sequences() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
    return text  # 10**9 strings once expanded


def _laughs_mappings() -> str:
    text = "a: &a {x0: lol, x1: lol, x2: lol, x3: lol, x4: lol}\n"
    for prev, name in zip("abcdefghij", "bcdefghijk", strict=True):
        text += f"{name}: &{name} {{{', '.join(f'k{i}: *{prev}' for i in range(5))}}}\n"
    return text  # 5**11 values once expanded


@pytest.mark.parametrize("bomb", [_laughs_sequences, _laughs_mappings], ids=lambda f: f.__name__)
def test_alias_bomb_fails_fast(tmp_path: Path, baseline: Run, bomb: Any):
    manifest(tmp_path, "variants/lol.yaml", bomb())
    run = run_validate(tmp_path)
    assert_refused(run, "BC107")
    assert run.found() == [("lol.yaml", 1, 1, "BC107")]
    assert run.seconds < baseline.seconds + EXTRA_SECONDS


def test_alias_bomb_inside_a_manifest(tmp_path: Path, baseline: Run):
    body = "".join("      " + line + "\n" for line in _laughs_sequences().splitlines())
    manifest(tmp_path, "variants/v.yaml", VARIANT_HEAD + body)
    run = run_validate(tmp_path)
    assert_refused(run, "BC107")
    assert [code for *_, code in run.found()] == ["BC107"]
    assert run.seconds < baseline.seconds + EXTRA_SECONDS


@pytest.mark.parametrize("text", ["x: &x [*x]\n", "x: &x {k: *x}\n"], ids=["seq", "map"])
def test_recursive_alias_is_bounded(tmp_path: Path, baseline: Run, text: str):
    manifest(tmp_path, "variants/v.yaml", "apiVersion: benchctl/v1\nkind: Variant\n" + text)
    run = run_validate(tmp_path)
    assert_refused(run, "BC113")
    assert run.seconds < baseline.seconds + EXTRA_SECONDS


N = 100_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * N + "]" * N + "\n", id="flow-sequences-100k"),
        pytest.param("- " * N + "x\n", id="block-sequences-100k"),
        pytest.param("{a: " * N + "1" + "}" * N + "\n", id="flow-mappings-100k"),
        pytest.param("x: " + "[" * N + "]" * N + "\n", id="flow-under-a-key-100k"),
        # just under the loader's pre-parse bound: libyaml composes it, the builder refuses it
        pytest.param("x: " + "[" * 4_990 + "]" * 4_990 + "\n", id="flow-sequences-4990"),
        pytest.param("x:\n" + "".join(" " * i + "- \n" for i in range(1, 1_400)), id="staircase"),
    ],
)
def test_very_deep_nesting_does_not_crash(tmp_path: Path, baseline: Run, text: str):
    manifest(tmp_path, "variants/v.yaml", text)
    run = run_validate(tmp_path)
    assert_refused(run, "BC113")
    assert [code for *_, code in run.found()] == ["BC113"]
    assert run.seconds < baseline.seconds + EXTRA_SECONDS


def test_deep_but_legal_looking_nesting_is_located(tmp_path: Path):
    # spec.request.extra is free-form; mappings nested one per line, 2 spaces each. The root is
    # depth 0 and extra's value depth 3, so the mapping at depth 65 is the value of key k62.
    lines = [f"{'  ' * (3 + i)}k{i}:" for i in range(70)]
    manifest(tmp_path, "variants/v.yaml", VARIANT_HEAD + "\n".join(lines) + " leaf\n")
    run = run_validate(tmp_path)
    assert_refused(run, "BC113")
    head_lines = VARIANT_HEAD.count("\n")
    # the value of k61 (depth 65) begins where key k62 is written
    assert run.found() == [("v.yaml", head_lines + 63, 2 * (3 + 62) + 1, "BC113")]


def _utf8_case(prefix: bytes, bad: bytes) -> tuple[bytes, int, int]:
    filler = b"".join(b"# line %d of filler text\n" % i for i in range(3, 300))
    head = b"apiVersion: benchctl/v1\nkind: Provider\n" + filler
    text = head + b"metadata:\n  name: acme\n" + prefix + bad + b" rest\n"
    return text, head.count(b"\n") + 3, len(prefix.decode("utf-8")) + 1


@pytest.mark.parametrize(
    ("prefix", "bad"),
    [
        pytest.param(b"  description: ", b"\xff", id="stray-byte"),
        pytest.param(b"  description: Soci", b"\xe9t\xe9", id="latin-1"),
        pytest.param(b"  description: ", b"\xe2\x82", id="truncated-sequence"),
        pytest.param(b"  description: ", b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"  description: ", b"\xc0\xaf", id="overlong"),
        pytest.param(
            b"  description: caf\xc3\xa9 ",
            b"\xff",
            id="after-a-multibyte-char",  # columns count characters, not bytes
        ),
    ],
)
def test_invalid_utf8_is_located(tmp_path: Path, prefix: bytes, bad: bytes):
    content, line, col = _utf8_case(prefix, bad)
    manifest(tmp_path, "providers/acme.yaml", content)
    run = run_validate(tmp_path)
    assert_refused(run, "BC103")
    assert run.found() == [("acme.yaml", line, col, "BC103")]


def test_utf8_bom_is_accepted(tmp_path: Path):
    write_minirepo(tmp_path, **{k[:-5].replace("/", "__"): "\ufeff" + v for k, v in FILES.items()})
    assert (tmp_path / "variants" / "fast.yaml").read_bytes().startswith(b"\xef\xbb\xbf")
    assert_accepted(run_validate(tmp_path))


def test_utf8_bom_does_not_shift_columns(tmp_path: Path):
    line = "{apiVersion: benchctl/v1, kind: Provder, metadata: {name: acme}, spec: {}}\n"
    manifest(tmp_path / "plain", "providers/acme.yaml", line)
    manifest(tmp_path / "bom", "providers/acme.yaml", "\ufeff" + line)
    plain, bom = run_validate(tmp_path / "plain"), run_validate(tmp_path / "bom")
    assert_refused(bom, "BC201")
    assert bom.found() == plain.found() == [("acme.yaml", 1, line.index("Provder") + 1, "BC201")]


def test_crlf_line_endings_are_accepted(tmp_path: Path):
    write_minirepo(
        tmp_path, **{k[:-5].replace("/", "__"): v.replace("\n", "\r\n") for k, v in FILES.items()}
    )
    assert b"\r\n" in (tmp_path / "variants" / "fast.yaml").read_bytes()
    assert_accepted(run_validate(tmp_path))


def test_crlf_line_endings_keep_lines_and_columns(tmp_path: Path):
    text = FILES["providers/sim.yaml"].replace("route: openai/", "route: openai")
    text = text.replace("context_window: 100000", "context_window: lots")
    manifest(tmp_path / "lf", "providers/sim.yaml", text)
    manifest(tmp_path / "crlf", "providers/sim.yaml", text.replace("\n", "\r\n"))
    lf, crlf = run_validate(tmp_path / "lf"), run_validate(tmp_path / "crlf")
    assert_refused(crlf, "BC205")
    expected = [("sim.yaml", 5, 10, "BC205"), ("sim.yaml", 10, 23, "BC204")]
    assert crlf.found() == lf.found() == expected


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        pytest.param("apiVersion: benchctl/v1\nmetadata:\n\tname: x\n", 3, 1, id="indented-key"),
        pytest.param("kind: Provider\nspec:\n  route: |\n    a\n\tb\n", 5, 1, id="block-scalar"),
        pytest.param("kind: Provider\nmetadata:\n  description: a\n\tb\n", 4, 1, id="plain-scalar"),
        pytest.param("- a\n-\t- b\n", 2, 2, id="after-dash"),
        pytest.param("-\t" * N + "x\n", 1, 2, id="after-dash-100k"),
    ],
)
def test_tabs_used_for_indentation(tmp_path: Path, text: str, line: int, col: int):
    manifest(tmp_path, "providers/acme.yaml", text)
    run = run_validate(tmp_path)
    assert_refused(run, "BC105")
    assert run.found() == [("acme.yaml", line, col, "BC105")]
