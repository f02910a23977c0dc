"""Child processes the launcher owns: started in their own process group,
logged to a file, stopped as a group (SIGTERM, then SIGKILL), never leaked.

Every process started here also gets PR_SET_PDEATHSIG on Linux, so a
launcher killed with SIGKILL still takes its direct children with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import port_for

_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    """A piece of the stack did not come up; the message says which and why."""


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (port-for): a stopped
    piece's port is never handed to some outgoing connection meanwhile, so it
    can start again on the same port."""
    return port_for.select_random()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ManagedProcess:
    """One long-running child (and whatever it forks) in its own process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        stdout_path: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.stdout_path = stdout_path
        self.stop_signal = stop_signal
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> ManagedProcess:
        if self.running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stderr = open(self.log_path, "ab")
        stdout = open(self.stdout_path, "ab") if self.stdout_path else stderr
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # own process group: stop() reaches the workers too
                preexec_fn=_die_with_parent,
            )
        finally:
            stderr.close()
            if stdout is not stderr:
                stdout.close()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the whole group, wait, then SIGKILL what is left."""
        if self.popen is None:
            return
        pgid = self.popen.pid
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, self.stop_signal)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self.popen.wait(5)
        # The leader is gone; make sure nothing else of its group lingers.
        deadline = time.monotonic() + timeout
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.popen = None

    def failure(self, what: str) -> StartupError:
        code = self.popen.poll() if self.popen else None
        state = f"exited with {code}" if code is not None else "still running"
        return StartupError(f"{self.name} {what} ({state}); last lines of {self.log_path}:\n{tail(self.log_path)}")


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is dead for our purposes)."""
    if not _exists(os.kill, pid):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _group_alive(pgid: int) -> bool:
    """Whether a live process is left in the group. Zombies do not count: an
    orphaned worker is reaped by init, and an init that reaps slowly (as in
    some sandboxes) must not make every stop wait out its timeout."""
    if not _exists(os.killpg, pgid):
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def _exists(send_signal: Callable[[int, int], None], target: int) -> bool:
    """Whether signal 0 finds `target` (a process, or a process group)."""
    try:
        send_signal(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own 127.0.0.1 URLs
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    process: ManagedProcess | None = None,
    what: str,
    interval: float = 0.1,
    between: Callable[[], None] = lambda: None,
) -> None:
    """Poll `check` until true; fail early if `process` dies meanwhile.
    `between` runs before every poll (it may raise to give up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        between()
        if check():
            return
        if process is not None and not process.running():
            raise process.failure(f"died before {what}")
        time.sleep(interval)
    if process is not None:
        raise process.failure(f"not {what} after {timeout:.0f}s")
    raise StartupError(f"not {what} after {timeout:.0f}s")


def wait_for_port(host: str, port: int, *, timeout: float, process: ManagedProcess | None = None) -> None:
    def listening() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(listening, timeout=timeout, process=process, what=f"listening on {host}:{port}")
