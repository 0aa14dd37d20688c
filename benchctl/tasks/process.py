"""Run one step of a task (setup, verifier, oracle): a shell command in its own process group,
with a built environment, a timeout, a size-capped and redacted log, and bubblewrap when there.

The environment is built, never inherited: PATH, a scratch HOME and TMPDIR, the locale, and the
step's own ``BENCHCTL_*`` paths. Whatever secrets the calling shell holds (a session key, the
proxy's master key, provider keys) are not passed on.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from benchctl.errors import TaskError
from benchctl.manifests.secrets import redact

SandboxMode = Literal["auto", "bwrap", "none"]

# Head and tail of a step's output are kept; a runaway verifier cannot fill the disk.
LOG_HEAD = 64 * 1024
LOG_TAIL = 64 * 1024
# Characters a key or token is made of: what redaction cannot see whole across the log's gap.
_TOKEN_AT_END = re.compile(r"[A-Za-z0-9_.~+/=-]+\Z")
_TOKEN_AT_START = re.compile(r"\A[A-Za-z0-9_.~+/=-]+")
# Top-level entries the sandbox does not bind from the host: it mounts its own.
_OWN_MOUNTS = frozenset({"proc", "dev", "tmp"})


@dataclass(frozen=True)
class Mount:
    """A host folder shown inside the sandbox at ``inside`` (read-only unless ``writable``)."""

    host: Path
    inside: str
    writable: bool = False


@dataclass(frozen=True)
class Finished:
    exit_code: int | None  # None when killed at the timeout
    timed_out: bool
    log: str
    seconds: float
    sandbox: str  # "bwrap" or "none"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def sandbox_in_use(mode: SandboxMode) -> bool:
    """Whether steps run under bubblewrap: ``auto`` uses it when installed."""
    if mode == "none":
        return False
    if bwrap_path() is None:
        if mode == "bwrap":
            raise TaskError(
                "--sandbox bwrap asks for bubblewrap, which is not installed:"
                " apt-get install bubblewrap, or use --sandbox none."
            )
        return False
    return True


def step_env(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a step. The interpreter running benchctl comes first on PATH,
    so ``python`` in a verifier is one that has benchctl's test tools."""
    path = os.pathsep.join(
        dict.fromkeys(
            [str(Path(sys.executable).parent), *os.environ.get("PATH", os.defpath).split(":")]
        )
    )
    return {
        "PATH": path,
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **extra,
    }


# benchctl's import root: a step's `python -m benchctl...` (the SDK harness) needs it.
_SOURCE = str(Path(__file__).resolve().parents[2])


def _under_tmp(paths: Sequence[str]) -> list[str]:
    """The existing folders among ``paths`` under /tmp, none inside another."""
    found = sorted(
        {
            resolved
            for p in paths
            if p and (resolved := Path(p).resolve()).is_dir() and resolved.is_relative_to("/tmp")  # noqa: S108
        }
    )
    kept: list[Path] = []
    for path in found:
        if not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return [str(path) for path in kept]


def _venvs(search: str) -> list[str]:
    """PATH's folders, a venv's whole folder for its bin/ (its scripts need its packages)."""
    found = []
    for entry in filter(None, search.split(os.pathsep)):
        folder = Path(entry)
        found.append(str(folder.parent if (folder.parent / "pyvenv.cfg").is_file() else folder))
    return found


def _bwrap_argv(
    cwd: Path, writable: Sequence[Path], mounts: Sequence[Mount], hidden: Sequence[Path],
    network: bool, search: str,
) -> list[str]:  # fmt: skip
    argv = [bwrap_path() or "bwrap"]
    # The host's top level, read-only, over the sandbox's own root (a tmpfs), so mount points
    # such as /tests can be made; /tmp is a fresh tmpfs, into which the step's folders go.
    for entry in sorted(Path("/").iterdir()):
        if entry.name in _OWN_MOUNTS:
            continue
        if entry.is_symlink():
            argv += ["--symlink", str(entry.readlink()), str(entry)]
        elif entry.exists():
            argv += ["--ro-bind", str(entry), str(entry)]
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]  # noqa: S108 (inside)
    # An interpreter, its packages, benchctl's own source (an editable install) or a harness's
    # venv on PATH under /tmp would vanish under the fresh /tmp: show them again, read-only.
    for shown in _under_tmp([sys.prefix, sys.base_prefix, *sys.path, _SOURCE, *_venvs(search)]):
        argv += ["--ro-bind", shown, shown]
    # A hidden folder holding a writable one hides all but that one, so it goes first; a hidden
    # folder inside a writable one must not come back with that one's bind, so it goes last.
    covering = [h for h in hidden if any(w.is_relative_to(h) for w in writable)]
    for path in covering:
        argv += ["--tmpfs", str(path)]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    for mount in mounts:
        argv += ["--bind" if mount.writable else "--ro-bind", str(mount.host), mount.inside]
    for path in hidden:
        if path in covering:
            continue
        if path.is_dir():
            argv += ["--tmpfs", str(path)]
        elif path.exists():
            argv += ["--ro-bind", "/dev/null", str(path)]
    argv += ["--unshare-pid", "--die-with-parent", "--new-session", "--chdir", str(cwd)]
    if not network:
        argv.append("--unshare-net")
    return [*argv, "--"]


class _Capped:
    """Reads a pipe until its end or until told to stop, keeping its head and tail.

    Reads wait on select() with a short timeout rather than blocking: a descendant that left the
    step's process group (setsid) may hold the pipe open for ever, and the reader must still
    stop when the step is over.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(stream.fileno(),), daemon=True)
        self._thread.start()

    def _read(self, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            room = LOG_HEAD - len(self.head)
            self.head += chunk[:room]
            self.tail += chunk[room:] if room > 0 else chunk
            if len(self.tail) > LOG_TAIL:
                self.dropped += len(self.tail) - LOG_TAIL
                del self.tail[: len(self.tail) - LOG_TAIL]

    def text(self, wait: float) -> str:
        """The log, once the pipe ended or ``wait`` seconds passed (output still held open by
        an escaped descendant is then left unread)."""
        self._thread.join(wait)
        self._stop.set()
        self._thread.join()
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.dropped:
            return redact(head + tail)
        # A key cut by the gap would slip past redaction as two short pieces: the pieces of
        # token at either edge of the gap go too.
        head = _TOKEN_AT_END.sub("", head)
        tail = _TOKEN_AT_START.sub("", tail)
        gap = f"\n[… {self.dropped:,} bytes of output left out …]\n"
        return redact(head) + gap + redact(tail)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (empty where /proc lacks ``children``)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        for task in Path(f"/proc/{pending.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            pending += children
    return found


def _terminate(process: subprocess.Popen[bytes], sandbox: bool) -> None:
    """SIGTERM to what a step runs, so it can save its work before the SIGKILL. Under
    bubblewrap the step's processes are in a session of their own, and bubblewrap itself must
    not get it: dying, it would take them down at once."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if not sandbox:
            os.killpg(process.pid, signal.SIGTERM)
            return
        for pid in _descendants(process.pid):
            os.kill(pid, signal.SIGTERM)


def run_step(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    sandbox: bool,
    writable: Sequence[Path] = (),
    mounts: Sequence[Mount] = (),
    hidden: Sequence[Path] = (),
    network: bool = False,
    grace: float = 0.0,
) -> Finished:
    """Run ``command`` (argv) in ``cwd``; kill its whole process group at ``timeout`` — after
    SIGTERM and ``grace`` seconds to exit, when ``grace`` is given."""
    argv = list(command)
    if sandbox:
        argv = (
            _bwrap_argv(cwd, [cwd, *writable], mounts, hidden, network, env.get("PATH", "")) + argv
        )
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise TaskError(f"cannot start {argv[0]}: {exc.strerror}.") from exc
    assert process.stdout is not None
    output = _Capped(process.stdout)
    timed_out = False
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        if grace > 0:
            _terminate(process, sandbox)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(grace)
    finally:
        # The group, not just the shell: a test runner's children die with it, and so does
        # anything a step left running in the background.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log = output.text(wait=2.0)
    process.stdout.close()
    return Finished(
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        log=log,
        seconds=time.monotonic() - started,
        sandbox="bwrap" if sandbox else "none",
    )
