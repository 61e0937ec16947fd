"""Shared by the package's tests: a real dobrokerd (sim backend) on a
socket in a temp directory, stopped on every exit, and waiting for a
condition with a timeout that only catches hangs."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("DOBROKERD", os.path.join(ROOT, "build", "native", "bin", "dobrokerd"))
HANG = 30.0  # seconds: only a hang takes this long

_live = []


def wait_for(cond, what, timeout=HANG, step=0.01):
    """Polls cond() until it is true; AssertionError naming what after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(step)  # polling interval of the wait above


class Broker:
    """dobrokerd --backend sim with a scenario, on its own socket and state
    directory. The scenario text may use {dir} for the temp directory and
    {uid} for the test's uid."""

    def __init__(self, scenario, *args):
        self.dir = tempfile.mkdtemp(prefix="dobpy.")
        self.sock = os.path.join(self.dir, "broker.sock")
        self.files = os.path.join(self.dir, "files")
        os.mkdir(self.files)
        self.scenario = os.path.join(self.dir, "scenario.txt")
        with open(self.scenario, "w") as f:
            f.write(scenario.replace("{dir}", self.dir).replace("{uid}", str(os.getuid())))
        self.args = list(args)
        self.proc = None
        self.log = os.path.join(self.dir, "broker.log")
        _live.append(self)

    def start(self):
        if not os.access(BIN, os.X_OK):
            raise AssertionError("%s is missing: run 'make'" % BIN)
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [BIN, "--backend", "sim", "--scenario", self.scenario, "--endpoint", self.sock,
             "--state-dir", os.path.join(self.dir, "state"), "--log-level", "debug"]
            + self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        wait_for(self._answers, "dobrokerd to listen on %s" % self.sock)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("dobrokerd exited %d:\n%s" % (self.proc.returncode, self.text()))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        """SIGTERM, then SIGKILL if it does not stop; returns its exit code."""
        p, self.proc = self.proc, None
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                return p.wait(HANG)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return -9
        return p.returncode

    def text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _live:
            _live.remove(self)


def stop_all():
    """Every broker still running (the runner calls it on any exit)."""
    for b in list(_live):
        b.cleanup()
