"""dobroker_client - a small dobrokerd client in Python: framing, handshake,
requests matched by correlation id, events.

It uses the code protoc generates from proto/dobroker.proto:

    make pygen            # writes build/py/dobroker_pb2.py

and finds it in $DOBROKER_PYGEN, else in build/py of the source tree this
file lives in, else on sys.path. The protocol is described in
docs/protocol.md; this module is the whole of what a client needs:

    from dobroker_client import Connection, pb
    with Connection(name="mine", role="controller") as c:
        print(c.welcome.broker_version)
        while True:
            env = c.next_event(timeout=1.0)
            if env is None:
                continue                      # nothing within the timeout
            if env.WhichOneof("body") == "job_error":
                e = env.job_error
                r = c.act(e.job.job_id, e.episode_id, "resume")
                print(status_name(r.status))

Transport: a Unix socket on POSIX; on Windows the named pipe is opened as a
file (blocking reads: timeouts are not available there).
"""

import os
import socket
import struct
import sys
import time
import uuid

_here = os.path.dirname(os.path.abspath(__file__))
for _p in (os.environ.get("DOBROKER_PYGEN"),
           os.path.join(_here, "..", "..", "build", "py")):
    if _p and os.path.exists(os.path.join(_p, "dobroker_pb2.py")):
        sys.path.insert(0, _p)
        break
try:
    import dobroker_pb2 as pb  # noqa: E402
except ImportError as _e:  # pragma: no cover
    raise ImportError("dobroker_pb2 not found: run 'make pygen' (it writes "
                      "build/py/dobroker_pb2.py) or set DOBROKER_PYGEN") from _e

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 65536
EVENTS = ("job_error", "job_transferred", "job_modified", "resolution", "gap")
REPLIES = {"act": "action_result", "submit_job": "job_reply",
           "adopt_job": "job_reply", "list_jobs": "list_jobs_reply",
           "get_stats": "stats", "ping": "pong"}


class ConnectionClosed(Exception):
    """The broker closed the connection (truncated: inside a frame)."""

    def __init__(self, truncated=False):
        super().__init__("the broker hung up inside a frame" if truncated
                         else "the broker closed the connection")
        self.truncated = truncated


class ProtocolError(Exception):
    """The broker sent ProtocolError (code, message), or broke the protocol
    itself (code None)."""

    def __init__(self, code, message):
        name = pb.ProtocolErrorCode.Name(code) if code is not None else "local"
        super().__init__("%s: %s" % (name, message))
        self.code = code
        self.message = message


# ------------------------------------------------------------------ names

def _short(enum, prefix, value):
    try:
        return enum.Name(value)[len(prefix):]
    except ValueError:
        return str(value)


def state_name(v):
    """'ERROR', 'QUEUED', ... (as dobctl prints them)."""
    return _short(pb.JobState, "JOB_STATE_", v)


def status_name(v):
    return _short(pb.Status, "STATUS_", v)


def action_name(v):
    """'resume', 'resume-after-delay', ..."""
    return _short(pb.Action, "ACTION_", v).lower().replace("_", "-")


def action_value(name):
    return pb.Action.Value("ACTION_" + name.upper().replace("-", "_"))


def resolved_by_name(v):
    return _short(pb.ResolvedBy, "RESOLVED_BY_", v).lower().replace("_", "-")


def guid_str(b):
    """A job id (16 bytes, Windows in-memory layout) as {XXXXXXXX-...}."""
    return "{%s}" % str(uuid.UUID(bytes_le=bytes(b))).upper()


def guid_bytes(s):
    return uuid.UUID(s.strip("{}")).bytes_le


def default_endpoint():
    """The broker's default: \\\\.\\pipe\\dobroker on Windows;
    $XDG_RUNTIME_DIR/dobroker.sock or /tmp/dobroker-<uid>.sock elsewhere."""
    if os.name == "nt":
        return r"\\.\pipe\dobroker"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "dobroker.sock")
    return "/tmp/dobroker-%d.sock" % os.getuid()


# ------------------------------------------------------------------ connection

class Connection:
    """One connection: connect + Hello/Welcome in the constructor."""

    def __init__(self, endpoint=None, name="python", role="observer",
                 job_ids=(), prefix="", kinds=(), timeout=5.0):
        self.endpoint = endpoint or default_endpoint()
        self.max_frame = DEFAULT_MAX_FRAME
        self._buf = bytearray()
        self._events = []
        self._next_cid = 1
        self._sock = None
        self._pipe = None
        if os.name == "nt" and not os.path.exists(self.endpoint) \
                and "\\" not in self.endpoint:
            self.endpoint = r"\\.\pipe" + "\\" + self.endpoint
        if os.name == "nt":
            self._pipe = open(self.endpoint, "r+b", buffering=0)
        else:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            try:
                self._sock.connect(self.endpoint)
            except OSError:
                self._sock.close()
                raise
        hello = pb.Envelope()
        h = hello.hello
        h.min_version = PROTOCOL_VERSION
        h.max_version = PROTOCOL_VERSION
        h.client_name = name
        h.role = pb.ROLE_CONTROLLER if role == "controller" else pb.ROLE_OBSERVER
        h.filter.job_ids.extend(job_ids)
        h.filter.display_name_prefix = prefix
        h.filter.kinds.extend(kinds)
        self.send(hello)
        env = self._read(timeout)
        if env is None:
            self.close()
            raise TimeoutError("no Welcome within %.1f s" % timeout)
        body = env.WhichOneof("body")
        if body == "protocol_error":
            self.close()
            raise ProtocolError(env.protocol_error.code, env.protocol_error.message)
        if body != "welcome":
            self.close()
            raise ProtocolError(None, "%s before Welcome" % body)
        self.welcome = env.welcome
        if self.welcome.version != PROTOCOL_VERSION:
            self.close()
            raise ProtocolError(None, "the broker chose version %d" % self.welcome.version)
        if self.welcome.limits.max_frame_bytes:
            self.max_frame = self.welcome.limits.max_frame_bytes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for f in (self._sock, self._pipe):
            if f is not None:
                f.close()
        self._sock = self._pipe = None

    def fileno(self):
        """For select()/poll() on POSIX. Check pending() first: events may
        already be queued."""
        return self._sock.fileno()

    def pending(self):
        return len(self._events)

    # -------------------------------------------------------------- frames

    def send(self, env):
        body = env.SerializeToString()
        if not body or len(body) > self.max_frame:
            raise ValueError("frame of %d bytes (limit %d)" % (len(body), self.max_frame))
        data = struct.pack("<I", len(body)) + body
        if self._sock is not None:
            self._sock.sendall(data)
        else:
            self._pipe.write(data)

    def _fill(self, timeout):
        """Reads more bytes within timeout (None = forever, 0 = only what
        has arrived); False when none came."""
        if self._sock is not None:
            self._sock.settimeout(timeout)
            try:
                chunk = self._sock.recv(65536)
            except (socket.timeout, BlockingIOError):
                return False
        else:
            chunk = self._pipe.read(65536)
        if not chunk:
            raise ConnectionClosed(truncated=bool(self._buf))
        self._buf += chunk
        return True

    def _take(self):
        """A complete Envelope from the buffer, or None."""
        if len(self._buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self._buf)
        if n == 0 or n > self.max_frame:
            raise ProtocolError(None, "bad frame length %d" % n)
        if len(self._buf) < 4 + n:
            return None
        body = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        env = pb.Envelope.FromString(body)
        if env.WhichOneof("body") == "protocol_error":
            raise ProtocolError(env.protocol_error.code, env.protocol_error.message)
        return env

    def _read(self, timeout):
        """One Envelope, or None when none completed within timeout
        (None = wait forever). A partial frame is kept for the next call."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            env = self._take()
            if env is not None:
                return env
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._fill(left):
                return None

    # -------------------------------------------------------------- events

    def next_event(self, timeout=None):
        """The next event Envelope (queued ones first), or None on timeout.
        Raises ConnectionClosed or ProtocolError when the connection ends."""
        if self._events:
            return self._events.pop(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            env = self._read(left)
            if env is None:
                return None
            if env.WhichOneof("body") in EVENTS:
                return env
            if env.correlation_id >= self._next_cid or env.correlation_id == 0:
                raise ProtocolError(None, "unexpected %s" % env.WhichOneof("body"))
            # else: the late reply to a request that timed out

    # -------------------------------------------------------------- requests

    def request(self, env, timeout=5.0):
        """Sends env (a request; its correlation id is set here) and returns
        the reply Envelope. Events meanwhile are queued for next_event."""
        kind = env.WhichOneof("body")
        cid = self._next_cid
        self._next_cid += 1
        env.correlation_id = cid
        self.send(env)
        deadline = time.monotonic() + timeout
        while True:
            env2 = self._read(max(0.0, deadline - time.monotonic()))
            if env2 is None:
                raise TimeoutError("no reply to %s within %.1f s" % (kind, timeout))
            body = env2.WhichOneof("body")
            if body in EVENTS:
                self._events.append(env2)
            elif env2.correlation_id == cid:
                if body != REPLIES[kind]:
                    raise ProtocolError(None, "%s answered with %s" % (kind, body))
                return env2
            elif not 0 < env2.correlation_id < cid:
                raise ProtocolError(None, "unexpected %s" % body)

    def act(self, job_id, episode_id, action, delay_ms=0, timeout=5.0):
        """ActionResult for action ('resume', 'cancel', ...) on job_id
        (16 bytes) for episode_id (0 = whatever its episode)."""
        env = pb.Envelope()
        env.act.job_id = bytes(job_id)
        env.act.episode_id = episode_id
        env.act.action = action_value(action)
        env.act.delay_ms = delay_ms
        return self.request(env, timeout).action_result

    def list_jobs(self, timeout=5.0):
        env = pb.Envelope()
        env.list_jobs.SetInParent()
        return self.request(env, timeout).list_jobs_reply

    def stats(self, timeout=5.0):
        env = pb.Envelope()
        env.get_stats.SetInParent()
        return self.request(env, timeout).stats

    def ping(self, timeout=5.0):
        env = pb.Envelope()
        env.ping.nonce = int(time.monotonic() * 1e6) & 0xFFFFFFFF
        nonce = env.ping.nonce
        if self.request(env, timeout).pong.nonce != nonce:
            raise ProtocolError(None, "Pong with another nonce")
