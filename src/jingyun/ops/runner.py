"""How a job's command runs: a :class:`Runner` turns a job into an :class:`Outcome`.

Today every job runs as a ``jingyun`` child process with a hard timeout
(:class:`ChildProcessRunner`). Inside ``jingyun serve`` that child opens the
warehouse itself and meets the service's DuckDB lock (``warehouse_busy``) until
the control channel lands; a runner that calls ``jingyun.cli.main.main(argv)``
in the service's process, on the service's warehouse, is the planned
replacement and only has to satisfy this protocol.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Protocol

from jingyun.config import Settings
from jingyun.ops.jobs import Job


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | failed | timeout
    exit_code: int | None
    attempts: int
    error: str | None


class Runner(Protocol):
    def __call__(self, settings: Settings, job: Job) -> Outcome: ...


class ChildProcessRunner:
    """``python -m jingyun.cli.main <args>`` with the job's timeout and retries; ``stop()`` kills what runs."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def __call__(self, settings: Settings, job: Job) -> Outcome:
        # jobs run as nobody: never as whoever last ran `jingyun login` in this home (cli_identity)
        env = {**os.environ, "JINGYUN_HOME": str(settings.home), "JINGYUN_CLI_SESSION": "off"}
        outcome = Outcome("failed", None, 0, "not run")
        for attempt in range(1, job.retries + 2):
            if self._stopping:
                return Outcome("failed", None, attempt - 1, "the scheduler stopped")
            outcome = self._attempt(job, env, attempt)
            if outcome.status == "ok":
                break
        return outcome

    def _attempt(self, job: Job, env: dict[str, str], attempt: int) -> Outcome:
        proc = subprocess.Popen([sys.executable, "-m", "jingyun.cli.main", *job.args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with self._lock:
            self._procs.add(proc)
        try:
            out, err = proc.communicate(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Outcome("timeout", None, attempt, f"killed after {job.timeout_s:g} s")
        finally:
            with self._lock:
                self._procs.discard(proc)
        if proc.returncode == 0:
            return Outcome("ok", 0, attempt, None)
        lines = [ln for ln in (err or out).strip().splitlines() if ln.strip()]
        return Outcome("failed", proc.returncode, attempt, lines[-1][:500] if lines else f"exit {proc.returncode}")

    def stop(self) -> None:
        self._stopping = True
        with self._lock:
            for proc in self._procs:
                proc.kill()
