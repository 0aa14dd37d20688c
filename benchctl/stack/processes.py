"""Background processes the local stack runs: start detached, wait for health, stop safely.

A pid alone is not an identity: after a reboot or a crash the kernel hands it to someone else.
Every stop therefore checks the process's start time and command line against what was
recorded at start, and never signals a process that does not match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchctl.errors import StackError

LOG_TAIL_LINES = 20
_POLL_S = 0.25
_PROC = Path("/proc")


@dataclass(frozen=True)
class Identity:
    pid: int
    start_time: str
    cmdline: tuple[str, ...]


def identity(pid: int) -> Identity | None:
    """The live process with this pid, or None if there is none (zombies count as gone)."""
    if pid <= 0:
        return None
    if _PROC.is_dir():
        return _proc_identity(pid)
    return _ps_identity(pid)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may contain spaces)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def _proc_identity(pid: int) -> Identity | None:
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    # fields[19] is field 22 of stat(5): start time in clock ticks since boot.
    argv = tuple(arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1])
    return Identity(pid, fields[19], argv)


def _ps_identity(pid: int) -> Identity | None:
    """Where there is no /proc (macOS): the same facts from ps."""
    done = subprocess.run(
        ["ps", "-p", str(pid), "-o", "stat=", "-o", "lstart=", "-o", "command="],
        capture_output=True,
        text=True,
        check=False,
    )
    line = done.stdout.strip()
    if done.returncode != 0 or not line or line.startswith("Z"):
        return None
    parts = line.split()
    # lstart is five words: "Mon Jun  3 10:00:00 2024".
    return Identity(pid, " ".join(parts[1:6]), tuple(parts[6:]))


def matches(pid: int | None, start_time: str | None, cmdline: Sequence[str]) -> bool:
    """Whether ``pid`` is still the very process that was recorded."""
    if pid is None:
        return False
    found = identity(pid)
    if found is None:
        return False
    if start_time is not None and found.start_time != start_time:
        return False
    return not cmdline or list(found.cmdline) == list(cmdline)


def spawn(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
) -> Identity:
    """Start ``argv`` in its own session (so it outlives benchctl and can be stopped as a
    process group, children included), output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} benchctl up starts:".encode())
        log.write(f" {' '.join(str(a) for a in argv)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                [str(a) for a in argv],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot run {argv[0]}: {exc.strerror or exc}.") from None
    # Popen returns once exec succeeded, so /proc already shows the new program.
    found = identity(process.pid)
    if found is None:
        process.wait()
        raise StackError(
            f"{Path(str(argv[0])).name} exited at once with code {process.returncode}."
            f"{tail_message(log_path)}"
        )
    return found


def alive(pid: int) -> bool:
    return identity(pid) is not None


def reap(pid: int) -> None:
    """Collect the exit status of a child of this process, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def group_members(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid``."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        # fields[2] is field 5 of stat(5), the process group id.
        if fields is not None and fields[0] not in ("Z", "X") and fields[2] == str(pgid):
            members.append(int(entry.name))
    return members


def stop(
    pid: int,
    start_time: str | None,
    cmdline: Sequence[str],
    *,
    group: bool,
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
) -> bool:
    """Stop the recorded process (and, with ``group``, every process of its group).

    Returns whether anything was signalled. A pid that now belongs to another program is left
    alone. With ``group``, leftovers of a group whose leader is already gone (the proxy's
    query-engine child after the proxy was killed) are stopped too: a group id is not reused
    while any member of the group lives, so they can only be ours.
    """
    leader_ours = matches(pid, start_time, cmdline)
    leader_gone = identity(pid) is None
    targets: list[int] = []
    if leader_ours:
        targets = [pid]
    if group and (leader_ours or leader_gone):
        targets = sorted(set(targets) | set(group_members(pid)))
    if not targets:
        reap(pid)
        return False
    _signal_all(targets, pid, group=group, sig=sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not _remaining(targets, pid, group=group):
            return True
        time.sleep(0.1)
    _signal_all(_remaining(targets, pid, group=group), pid, group=group, sig=signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap(pid)
        left = _remaining(targets, pid, group=group)
        if not left:
            return True
        time.sleep(0.1)
    raise StackError(
        f"process(es) {', '.join(map(str, left))} did not exit after SIGKILL; stop them by hand."
    )


def _remaining(targets: Sequence[int], pgid: int, *, group: bool) -> list[int]:
    still = [p for p in targets if identity(p) is not None]
    if group:
        still = sorted(set(still) | set(group_members(pgid)))
    return still


def _signal_all(targets: Sequence[int], pgid: int, *, group: bool, sig: signal.Signals) -> None:
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for target in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, sig)


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (a bind would succeed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT after our own `down` would look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(
    name: str,
    probe: Callable[[], str | None],
    *,
    pid: int | None,
    log_path: Path | None,
    timeout: float,
    on_wait: Callable[[float], None] | None = None,
) -> None:
    """Poll ``probe`` (None means healthy, else why not yet) until it passes.

    Fails at once when the process exits, and after ``timeout`` seconds; both failures name
    the log and show its last lines.
    """
    started = time.monotonic()
    last = "no answer yet"
    while True:
        last = probe() or ""
        if not last:
            return
        elapsed = time.monotonic() - started
        if pid is not None and not alive(pid):
            reap(pid)
            raise StackError(f"{name} exited while starting.{tail_message(log_path)}")
        if elapsed > timeout:
            raise StackError(
                f"{name} did not become healthy within {timeout:g}s (last check: {last})."
                f"{tail_message(log_path)}"
            )
        if on_wait is not None:
            on_wait(elapsed)
        time.sleep(_POLL_S)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def tail_message(log_path: Path | None) -> str:
    """`` Its log: PATH; last lines:`` and the lines, or nothing without a log."""
    if log_path is None:
        return ""
    lines = tail(log_path)
    if not lines:
        return f" Its log, {log_path}, is empty."
    body = "\n".join(f"    {line}" for line in lines)
    return f" Its log: {log_path}; last {len(lines)} line(s):\n{body}"
