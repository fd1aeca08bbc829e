"""A systemd-nspawn container with a real systemd as PID 1, for testing the installed unit live.

How it runs (the flags are those of systemd-nspawn(1),
https://www.freedesktop.org/software/systemd/man/latest/systemd-nspawn.html):

* The cached image is the lower layer of an overlay mount; everything a run writes goes to its own
  upper directory, so the image stays pristine and every run starts from the same tree.
* ``systemd-nspawn -b --register=no --keep-unit --private-network --system-call-filter=bpf`` with
  ``SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1``: no machined/system bus needed (without ``--register=no
  --keep-unit`` nspawn fails with "Failed to open system bus"); the container has its own
  loopback (its broker on 1883 never meets the host's shared one); the container's systemd can
  attach BPF device programs, so ``DevicePolicy=``/``DeviceAllow=`` are really enforced (without the
  unified hierarchy and ``bpf`` allowed they are silently not enforced, and a test of them would
  prove nothing).
* nspawn is started in a cgroup of its own under the host's cgroup2 hierarchy, so the ``payload`` and
  ``supervisor`` cgroups it makes (and leaves behind with ``--keep-unit``) are ours to remove.
* Commands run inside with ``nsenter -t <container PID 1> -a`` (``machinectl``/``systemd-run -M`` need
  the registration we switched off).
* ``close()`` always tears down: ``systemctl poweroff``, then SIGKILL to nspawn's process group and
  ``cgroup.kill`` if it does not exit in time, then the cgroups, the mount and the work directory.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.waiting import wait_until

NSPAWN_ENV = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
#: The environment of a command run inside: the container's own PATH, no pager, no colours.
INSIDE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
              "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")


def cgroup2_root() -> Path | None:
    """Where this machine mounts the cgroup2 hierarchy (pure v2, or hybrid's 'unified'), or None."""
    for candidate in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (candidate / "cgroup.procs").exists() and (candidate / "cgroup.subtree_control").exists():
            return candidate
    return None


def _own_cgroup2() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:].lstrip("/")
    return ""


def _populated(cgroup: Path) -> bool:
    try:
        return "populated 1" in (cgroup / "cgroup.events").read_text()
    except OSError:
        return False


def _remove_cgroup_tree(top: Path) -> None:
    if not top.is_dir():
        return
    # Killed processes leave their cgroup a moment later; rmdir of a populated cgroup fails (EBUSY).
    wait_until(lambda: not _populated(top), 30, interval_s=0.05, message=f"processes still in {top}")
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


class Container:
    """One boot-able copy of the image. Use as a context manager, or call close() in a finally."""

    def __init__(self, image: Path, workdir: Path) -> None:
        self.image = image
        self.workdir = workdir
        self.root = workdir / "root"
        self.console = workdir / "console.log"
        self.name = f"kiosk-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid1: int | None = None
        self.cgroup: Path | None = None
        self._mounted = False
        self.boots = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def mount(self) -> None:
        for d in ("upper", "work", "root"):
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
        opts = f"lowerdir={self.image},upperdir={self.workdir / 'upper'},workdir={self.workdir / 'work'}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(self.root)], check=True,
                       capture_output=True, timeout=30)
        self._mounted = True

    def boot(self, timeout_s: float = 120.0) -> float:
        """Boot and wait until systemd says 'running'; return the seconds that took."""
        assert self.proc is None, "already booted"
        started = time.monotonic()
        root2 = cgroup2_root()
        wrapper = 'exec "$@"'
        if root2 is not None:
            self.cgroup = root2 / _own_cgroup2() / f"{self.name}-{self.boots}"
            self.cgroup.mkdir()
            wrapper = f"echo $$ > {shlex.quote(str(self.cgroup / 'cgroup.procs'))} && exec \"$@\""
        cmd = ["sh", "-c", wrapper, "sh", "systemd-nspawn", "--boot", f"--directory={self.root}",
               f"--machine={self.name}", "--register=no", "--keep-unit", "--private-network",
               "--system-call-filter=bpf", "--console=pipe"]
        with open(self.console, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **NSPAWN_ENV}, start_new_session=True)
        self.boots += 1
        self.pid1 = wait_until(self._find_pid1, 30, interval_s=0.05,
                               message=lambda: f"no container PID 1 under nspawn; console:\n{self.console_tail()}")
        state = wait_until(self._settled_state, timeout_s, interval_s=0.2,
                           message=lambda: f"systemd in the container never settled; console:\n{self.console_tail()}")
        if state != "running":
            failed = self.sh("systemctl --failed --no-legend --plain", check=False).stdout
            raise AssertionError(f"container booted {state!r}; failed units:\n{failed}")
        return time.monotonic() - started

    def poweroff(self, timeout_s: float = 60.0) -> float:
        """Clean shutdown through systemd; return the seconds until nspawn exited."""
        assert self.proc is not None
        started = time.monotonic()
        self.sh("systemctl poweroff --no-block", check=False)
        wait_until(lambda: self.proc is not None and self.proc.poll() is not None, timeout_s, interval_s=0.1,
                   message=lambda: f"nspawn did not exit after poweroff; console:\n{self.console_tail()}")
        self._after_exit()
        return time.monotonic() - started

    def close(self) -> None:
        """Tear everything down, whatever state it is in. Never raises."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.poweroff(timeout_s=30)
            except Exception:
                self._kill()
        self._after_exit()
        if self._mounted:
            rc = subprocess.run(["umount", str(self.root)], capture_output=True, timeout=60).returncode
            if rc != 0:
                subprocess.run(["umount", "-l", str(self.root)], capture_output=True, timeout=60)
            self._mounted = False
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: nspawn and its helpers
        except ProcessLookupError:
            pass
        if self.cgroup is not None and (self.cgroup / "cgroup.kill").exists():
            (self.cgroup / "cgroup.kill").write_text("1")  # the container's processes, all ours
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def _after_exit(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None
            self.pid1 = None
            if self.cgroup is not None:
                try:
                    _remove_cgroup_tree(self.cgroup)
                except AssertionError:
                    pass  # a process that will not die: leave the cgroup rather than fail the teardown
                self.cgroup = None

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inside ----------------------------------------------------------------------------------
    def _find_pid1(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited early; console:\n{self.console_tail()}")
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            for child in task.read_text().split():
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                nspid = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:")), [])
                if len(nspid) > 1 and nspid[-1] == "1":
                    return int(child)
        return None

    def _settled_state(self) -> str | None:
        out = self.run(["systemctl", "is-system-running"], check=False, timeout=30).stdout.strip()
        return out if out in ("running", "degraded", "maintenance", "stopping") else None

    def run(self, argv: list[str], *, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv inside the container as root."""
        assert self.pid1 is not None, "container not booted"
        cmd = ["nsenter", "-t", str(self.pid1), "-a", "--", "/usr/bin/env", "-i", *INSIDE_ENV, *argv]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"in the container: {shlex.join(argv)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
        return proc

    def sh(self, script: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run(["/bin/sh", "-c", script], **kw)  # type: ignore[arg-type]

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run(["systemctl", "show", unit, *(f"--property={p}" for p in props)]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def console_tail(self, chars: int = 3000) -> str:
        try:
            return self.console.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no console log)"
