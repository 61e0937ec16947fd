"""The connection to dobrokerd: transport, frames, handshake, requests and events.

The wire protocol is described in docs/protocol.md: each frame is a u32
little-endian length and one Envelope; the client sends Hello, the broker
answers Welcome, then events and replies arrive in any order and replies are
matched to requests by correlation id.
"""

import collections
import os
import queue
import socket
import struct
import threading
import time
from typing import (Any, BinaryIO, Deque, Dict, Iterable, Iterator, List, NamedTuple,
                    Optional, Sequence, Set, Union)

from ._pb import pb
from .guid import JobId, guid_str, job_id_bytes

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 65536
PIPE_PREFIX = "\\\\.\\pipe\\"

EVENT_KINDS = ("job_error", "job_transferred", "job_modified", "resolution", "gap")
_REPLIES = {"act": "action_result", "submit_job": "job_reply", "adopt_job": "job_reply",
            "list_jobs": "list_jobs_reply", "get_stats": "stats", "ping": "pong"}


# ------------------------------------------------------------------ errors

class DobrokerError(Exception):
    """Base of this package's errors."""


class ConnectionClosed(DobrokerError, ConnectionError):
    """The broker closed the connection (truncated: in the middle of a frame)."""

    def __init__(self, truncated: bool = False) -> None:
        super().__init__("the broker hung up inside a frame" if truncated
                         else "the broker closed the connection")
        self.truncated = truncated


class ProtocolError(DobrokerError):
    """The broker sent ProtocolError (code is its ProtocolErrorCode), or broke
    the protocol itself (code None)."""

    def __init__(self, code: Optional[int], message: str) -> None:
        name = pb.ProtocolErrorCode.Name(code) if code is not None else "client"
        super().__init__("%s: %s" % (name, message))
        self.code = code
        self.message = message


class RequestFailed(DobrokerError):
    """A request the broker answered with a status other than OK."""

    def __init__(self, request: str, status: int, message: str, hresult: int = 0) -> None:
        text = "%s: %s" % (request, status_name(status))
        if message:
            text += ": " + message
        if hresult:
            text += " (hr=0x%08X)" % hresult
        super().__init__(text)
        self.status = status
        self.message = message
        self.hresult = hresult


# ------------------------------------------------------------------ names

def _short(enum: Any, prefix: str, value: int) -> str:
    try:
        return str(enum.Name(value))[len(prefix):]
    except ValueError:
        return str(value)


def state_name(v: int) -> str:
    """'ERROR', 'QUEUED', ... (as dobctl prints them)."""
    return _short(pb.JobState, "JOB_STATE_", v)


def status_name(v: int) -> str:
    """'OK', 'ALREADY_RESOLVED', ..."""
    return _short(pb.Status, "STATUS_", v)


def action_name(v: int) -> str:
    """'resume', 'resume-after-delay', ..."""
    return _short(pb.Action, "ACTION_", v).lower().replace("_", "-")


def resolved_by_name(v: int) -> str:
    """'controller', 'policy', 'job-left-error'."""
    return _short(pb.ResolvedBy, "RESOLVED_BY_", v).lower().replace("_", "-")


def context_name(v: int) -> str:
    """'REMOTE_FILE', 'NONE', ..."""
    return _short(pb.ErrorContext, "ERROR_CONTEXT_", v)


def action_value(action: Union[str, int]) -> int:
    """'resume', 'resume-after-delay', 'ACTION_CANCEL' or an Action number."""
    if isinstance(action, int):
        if action not in pb.Action.values() or action == pb.ACTION_UNSPECIFIED:
            raise ValueError("unknown action %d" % action)
        return action
    name = action.upper().replace("-", "_")
    if not name.startswith("ACTION_"):
        name = "ACTION_" + name
    if name not in pb.Action.keys() or name == "ACTION_UNSPECIFIED":
        raise ValueError("unknown action %r (expected cancel, complete, resume, suspend "
                         "or resume-after-delay)" % action)
    return int(pb.Action.Value(name))


def _policy_kind(word: str) -> int:
    name = "POLICY_KIND_" + word.upper()
    if not word or name not in pb.PolicyKind.keys() or name == "POLICY_KIND_UNSPECIFIED":
        raise ValueError("unknown policy %r (expected none, resume, cancel or complete)" % word)
    return int(pb.PolicyKind.Value(name))


def make_policy(spec: Union[str, Any], deadline_ms: int = 0) -> Any:
    """A Policy message from dobctl's notation: 'none', 'cancel', 'complete'
    or 'resume:MAX:BACKOFF_MS[:none|cancel|complete]' (a Policy message is
    returned as it is, with deadline_ms set when given)."""
    if isinstance(spec, pb.Policy):
        p = pb.Policy()
        p.CopyFrom(spec)
    else:
        parts = str(spec).split(":")
        p = pb.Policy(kind=_policy_kind(parts[0]))
        if p.kind == pb.POLICY_KIND_RESUME:
            if len(parts) not in (3, 4) or not parts[1].isdigit() or not parts[2].isdigit():
                raise ValueError("bad policy %r (expected resume:MAX:BACKOFF_MS"
                                 "[:none|cancel|complete])" % spec)
            p.max_resumes, p.backoff_ms = int(parts[1]), int(parts[2])
            if len(parts) == 4:
                p.exhausted = _policy_kind(parts[3])
                if p.exhausted == pb.POLICY_KIND_RESUME:
                    raise ValueError("bad policy %r: after the last resume comes none, "
                                     "cancel or complete" % spec)
        elif len(parts) != 1:
            raise ValueError("bad policy %r: only resume takes parameters" % spec)
    if deadline_ms:
        p.deadline_ms = deadline_ms
    return p


def default_endpoint() -> str:
    """The broker's default: \\\\.\\pipe\\dobroker on Windows;
    $XDG_RUNTIME_DIR/dobroker.sock, else /tmp/dobroker-<uid>.sock, elsewhere."""
    if os.name == "nt":
        return PIPE_PREFIX + "dobroker"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "dobroker.sock")
    return "/tmp/dobroker-%d.sock" % os.getuid()


# ------------------------------------------------------------------ frames

def encode_frame(env: Any, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """One Envelope as a frame: u32 little-endian length + the Envelope."""
    body = bytes(env.SerializeToString())
    if not body:
        raise ValueError("an Envelope without a body is not a valid frame")
    if len(body) > max_frame:
        raise ValueError("frame of %d bytes is above the limit of %d" % (len(body), max_frame))
    return struct.pack("<I", len(body)) + body


class FrameReader:
    """Splits a byte stream into Envelopes: feed() bytes, next() an Envelope
    or None until a whole frame is there. Checks the length before taking
    the body (0 and above max_frame are errors)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf)

    def next(self) -> Optional[Any]:
        if len(self._buf) < 4:
            return None
        (n,) = struct.unpack_from("<I", self._buf)
        if n == 0:
            raise ProtocolError(None, "empty frame (length 0)")
        if n > self.max_frame:
            raise ProtocolError(None, "frame of %d bytes is above the limit of %d"
                                % (n, self.max_frame))
        if len(self._buf) < 4 + n:
            return None
        body = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        env = pb.Envelope()
        try:
            env.ParseFromString(body)
        except Exception as e:  # google.protobuf.message.DecodeError
            raise ProtocolError(None, "malformed Envelope: %s" % e) from e
        if env.WhichOneof("body") is None:
            raise ProtocolError(None, "Envelope without a body")
        return env


def decode_frames(data: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> List[Any]:
    """Every Envelope of a byte string of whole frames (ProtocolError for a
    bad length or body, ValueError when it ends inside a frame)."""
    r = FrameReader(max_frame)
    r.feed(data)
    out = []
    while True:
        env = r.next()
        if env is None:
            break
        out.append(env)
    if r.buffered():
        raise ValueError("%d bytes after the last whole frame" % r.buffered())
    return out


# ------------------------------------------------------------------ transports

class _SocketTransport:
    """A Unix stream socket (POSIX)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        """Bytes within timeout (None: wait), None when none came, b'' at EOF."""
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return None

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()


class _FileTransport:
    """A stream opened as a file: the Windows named pipe (open(r'\\\\.\\pipe\\NAME')).
    Reads on such a file block and have no timeout, so one thread reads and
    hands the chunks over through a queue, which gives the same timeouts as
    on a socket."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._chunks: "queue.Queue[bytes]" = queue.Queue()
        self._eof = False
        self._reader = threading.Thread(target=self._run, name="dobroker-reader", daemon=True)
        self._reader.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = self._f.read(65536)
            except (OSError, ValueError):
                chunk = b""
            self._chunks.put(chunk or b"")
            if not chunk:
                return

    def send(self, data: bytes) -> None:
        self._f.write(data)
        self._f.flush()

    def recv(self, timeout: Optional[float]) -> Optional[bytes]:
        if self._eof:
            return b""
        try:
            chunk = self._chunks.get(timeout=timeout) if timeout is None or timeout > 0 \
                else self._chunks.get_nowait()
        except queue.Empty:
            return None
        if not chunk:
            self._eof = True
        return chunk

    def fileno(self) -> int:
        raise OSError("a named pipe has no descriptor to poll; use next_event(timeout)")

    def close(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass


def _open_transport(endpoint: str, timeout: Optional[float]) -> Any:
    if endpoint.startswith(PIPE_PREFIX) or (os.name == "nt" and "\\" not in endpoint
                                            and "/" not in endpoint):
        if not endpoint.startswith(PIPE_PREFIX):
            endpoint = PIPE_PREFIX + endpoint
        # Windows: a pipe client is a file opened read/write, unbuffered.
        # While every instance of the pipe is taken (ERROR_PIPE_BUSY, 231)
        # it is tried again until timeout, as libdobclient does: the broker
        # makes a new instance as soon as one is connected.
        deadline = time.monotonic() + (5.0 if timeout is None else timeout)
        while True:
            try:
                return _FileTransport(open(endpoint, "r+b", buffering=0))
            except OSError as e:
                if getattr(e, "winerror", None) != 231 or time.monotonic() >= deadline:
                    raise
            time.sleep(0.01)  # the retry interval of the wait above
    if not hasattr(socket, "AF_UNIX"):
        raise ValueError("%r: this system has no Unix sockets; give a pipe name "
                         "(\\\\.\\pipe\\NAME)" % endpoint)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(endpoint)
    except OSError:
        s.close()
        raise
    return _SocketTransport(s)


# ------------------------------------------------------------------ events

class Event(NamedTuple):
    """One event: kind is 'job_error', 'job_transferred', 'job_modified',
    'resolution' or 'gap'; body the message of that kind; envelope the
    whole Envelope."""
    kind: str
    body: Any
    envelope: Any

    @property
    def job_id(self) -> Optional[str]:
        """The job's GUID text (None for a Gap)."""
        if self.kind == "gap":
            return None
        raw = self.body.job_id if self.kind == "resolution" else self.body.job.job_id
        return guid_str(raw)


def _event(env: Any) -> Event:
    kind = env.WhichOneof("body")
    return Event(kind, getattr(env, kind), env)


# ------------------------------------------------------------------ client

class Client:
    """A connection to dobrokerd. The constructor connects and does the
    handshake; `welcome` is the broker's Welcome.

    endpoint: a Unix socket path, or a Windows pipe name (\\\\.\\pipe\\NAME);
    default: default_endpoint(). role: 'observer' or 'controller'.
    job_ids, prefix, kinds: the event filter (kinds by name, e.g.
    'job_error', or EventKind numbers). timeout: seconds for connecting and
    for each request.
    """

    def __init__(self, endpoint: Optional[str] = None, *, name: str = "python",
                 role: str = "observer", job_ids: Iterable[JobId] = (), prefix: str = "",
                 kinds: Iterable[Union[str, int]] = (), timeout: float = 5.0) -> None:
        if role not in ("observer", "controller"):
            raise ValueError("role is 'observer' or 'controller', not %r" % (role,))
        if not 1 <= len(name) <= 64:
            raise ValueError("a client name has 1 to 64 characters")
        self.endpoint = endpoint or default_endpoint()
        self.name = name
        self.role = role
        self.timeout = timeout
        self._job_ids = [job_id_bytes(j) for j in job_ids]
        self._prefix = prefix
        self._kinds = [_kind_value(k) for k in kinds]
        self._transport: Any = None
        self._reader = FrameReader()
        self._events: Deque[Any] = collections.deque()
        self._next_cid = 1
        self.welcome: Any = None
        self._connect()

    # -------------------------------------------------------------- handshake

    def _connect(self) -> None:
        self._reader = FrameReader()
        self._events.clear()
        self._transport = _open_transport(self.endpoint, self.timeout)
        try:
            env = pb.Envelope()
            h = env.hello
            h.min_version = PROTOCOL_VERSION
            h.max_version = PROTOCOL_VERSION
            h.client_name = self.name
            h.role = pb.ROLE_CONTROLLER if self.role == "controller" else pb.ROLE_OBSERVER
            h.filter.job_ids.extend(self._job_ids)
            h.filter.display_name_prefix = self._prefix
            h.filter.kinds.extend(self._kinds)
            self._send(env)
            reply = self._read(self.timeout)
            if reply is None:
                raise TimeoutError("no Welcome within %.1f s" % self.timeout)
            body = reply.WhichOneof("body")
            if body != "welcome":
                raise ProtocolError(None, "%s before Welcome" % body)
            if reply.welcome.version != PROTOCOL_VERSION:
                raise ProtocolError(None, "the broker chose version %d" % reply.welcome.version)
        except BaseException:
            self.close()
            raise
        self.welcome = reply.welcome
        if self.welcome.limits.max_frame_bytes:
            self._reader.max_frame = self.welcome.limits.max_frame_bytes

    def reconnect(self, timeout: float = 30.0, backoff: float = 0.1,
                  max_backoff: float = 2.0) -> None:
        """Closes the connection and connects again with the same Hello,
        retrying with a doubling backoff until timeout seconds have passed
        (then the last error is raised). Pending episodes come again as
        replayed JobError events; events queued on the old connection are
        dropped."""
        self.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._connect()
                return
            except (OSError, ConnectionClosed, TimeoutError):
                if time.monotonic() + backoff > deadline:
                    raise
            time.sleep(backoff)  # the backoff between attempts, not a barrier
            backoff = min(backoff * 2, max_backoff)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def closed(self) -> bool:
        return self._transport is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def fileno(self) -> int:
        """For select()/poll() (sockets only). Check pending() first: events
        may be queued already."""
        return int(self._conn().fileno())

    def pending(self) -> int:
        """Events received and not yet returned."""
        return len(self._events)

    # -------------------------------------------------------------- frames

    def _conn(self) -> Any:
        if self._transport is None:
            raise ConnectionClosed()
        return self._transport

    def _send(self, env: Any) -> None:
        self._conn().send(encode_frame(env, self._reader.max_frame))

    def _read(self, timeout: Optional[float]) -> Optional[Any]:
        """One Envelope within timeout (None: wait), or None."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            env = self._reader.next()
            if env is not None:
                if env.WhichOneof("body") == "protocol_error":
                    self.close()
                    raise ProtocolError(env.protocol_error.code, env.protocol_error.message)
                return env
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = self._conn().recv(left)
            if chunk is None:
                return None
            if not chunk:
                truncated = self._reader.buffered() > 0
                self.close()
                raise ConnectionClosed(truncated)
            self._reader.feed(chunk)

    # -------------------------------------------------------------- events

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event (queued ones first), or None when none came within
        timeout seconds (None: wait). Raises ConnectionClosed or
        ProtocolError when the connection ends."""
        if self._events:
            return _event(self._events.popleft())
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            env = self._read(left)
            if env is None:
                return None
            kind = env.WhichOneof("body")
            if kind in EVENT_KINDS:
                return _event(env)
            if not 0 < env.correlation_id < self._next_cid:
                raise ProtocolError(None, "unexpected %s" % kind)
            # else: the late reply to a request that timed out

    def events(self, reconnect: bool = False, reconnect_timeout: float = 30.0) -> Iterator[Event]:
        """Every event, forever. With reconnect=True a connection that ends
        (the broker stopped or restarted) is made again (see reconnect()),
        and the replays of JobError episodes this iterator already gave are
        skipped, so each episode comes once. A connection that ends any
        other way (a ProtocolError but SHUTTING_DOWN) raises."""
        seen: Set[int] = set()
        while True:
            try:
                ev = self.next_event()
            except (ConnectionClosed, ProtocolError) as e:
                if not reconnect or not _ended(e):
                    raise
                self.reconnect(reconnect_timeout)
                continue
            assert ev is not None
            if ev.kind == "job_error":
                if ev.body.replayed and ev.body.episode_id in seen:
                    continue
                seen.add(ev.body.episode_id)
            yield ev

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    # -------------------------------------------------------------- requests

    def request(self, env: Any, timeout: Optional[float] = None) -> Any:
        """Sends a request Envelope (its correlation id is set here) and
        returns the reply Envelope; events that arrive meanwhile are queued
        for next_event."""
        kind = env.WhichOneof("body")
        if kind not in _REPLIES:
            raise ValueError("%s is not a request" % kind)
        timeout = self.timeout if timeout is None else timeout
        cid = self._next_cid
        self._next_cid += 1
        env.correlation_id = cid
        self._send(env)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(max(0.0, deadline - time.monotonic()))
            if reply is None:
                raise TimeoutError("no reply to %s within %.1f s" % (kind, timeout))
            body = reply.WhichOneof("body")
            if body in EVENT_KINDS:
                self._events.append(reply)
            elif reply.correlation_id == cid:
                if body != _REPLIES[kind]:
                    raise ProtocolError(None, "%s answered with %s" % (kind, body))
                return reply
            elif not 0 < reply.correlation_id < cid:
                raise ProtocolError(None, "unexpected %s" % body)

    def act(self, job_id: JobId, action: Union[str, int], episode_id: int = 0,
            delay_ms: int = 0, timeout: Optional[float] = None) -> Any:
        """Answers an episode (episode_id 0: the job's, whatever it is) with
        an action: 'cancel', 'complete', 'resume', 'suspend' or
        'resume-after-delay' (with delay_ms). Returns the ActionResult: its
        status is an outcome (OK, ALREADY_RESOLVED with the winner, ...),
        never raised."""
        a = action_value(action)
        if a == pb.ACTION_RESUME_AFTER_DELAY and not 1 <= delay_ms <= 86400000:
            raise ValueError("resume-after-delay needs delay_ms from 1 to 86400000")
        if a != pb.ACTION_RESUME_AFTER_DELAY and delay_ms:
            raise ValueError("delay_ms is only for resume-after-delay")
        env = pb.Envelope()
        env.act.job_id = job_id_bytes(job_id)
        env.act.episode_id = episode_id
        env.act.action = a
        env.act.delay_ms = delay_ms
        return self.request(env, timeout).action_result

    def submit(self, url: str, local_path: str, *, display_name: str = "",
               files: Sequence[Sequence[str]] = (), priority: Union[str, int] = 0,
               policy: Union[str, Any, None] = None, deadline_ms: int = 0,
               timeout: Optional[float] = None) -> Any:
        """Has the broker create a download of url to local_path (an absolute
        path), plus any (url, path) pairs in files. Returns the JobSummary
        of the new job (its id: guid_str(summary.job.job_id)); raises
        RequestFailed when the broker refuses."""
        env = pb.Envelope()
        s = env.submit_job
        s.display_name = display_name or self.name
        for u, p in [(url, local_path)] + [tuple(f) for f in files]:
            s.files.add(remote_url=u, local_path=p)
        if isinstance(priority, str):
            priority = int(pb.Priority.Value("PRIORITY_" + priority.upper()))
        s.priority = priority
        s.type = pb.JOB_TYPE_DOWNLOAD
        if policy is not None or deadline_ms:
            s.policy.CopyFrom(make_policy(policy or pb.Policy(), deadline_ms))
        r = self.request(env, timeout).job_reply
        if r.status != pb.STATUS_OK:
            raise RequestFailed("submit", r.status, r.message, r.hresult)
        return r.job

    def adopt(self, job_id: JobId, policy: Union[str, Any, None] = None,
              deadline_ms: int = 0, timeout: Optional[float] = None) -> Any:
        """Has the broker manage an existing job (it takes the job's
        callback). Returns its JobSummary; raises RequestFailed when the
        broker refuses (UNKNOWN_JOB, ALREADY_MANAGED, ...)."""
        env = pb.Envelope()
        env.adopt_job.job_id = job_id_bytes(job_id)
        if policy is not None or deadline_ms:
            env.adopt_job.policy.CopyFrom(make_policy(policy or pb.Policy(), deadline_ms))
        r = self.request(env, timeout).job_reply
        if r.status != pb.STATUS_OK:
            raise RequestFailed("adopt", r.status, r.message, r.hresult)
        return r.job

    def list_jobs(self, timeout: Optional[float] = None) -> List[Any]:
        """The managed jobs this client may see, as JobSummary messages."""
        env = pb.Envelope()
        env.list_jobs.SetInParent()
        r = self.request(env, timeout).list_jobs_reply
        if r.status != pb.STATUS_OK:
            raise RequestFailed("list_jobs", r.status, r.message)
        return list(r.jobs)

    def stats(self, timeout: Optional[float] = None) -> Any:
        """The broker's counters (a Stats message)."""
        env = pb.Envelope()
        env.get_stats.SetInParent()
        r = self.request(env, timeout).stats
        if r.status != pb.STATUS_OK:
            raise RequestFailed("stats", r.status, r.message)
        return r

    def ping(self, timeout: Optional[float] = None) -> float:
        """A round trip to the broker; returns its time in seconds."""
        env = pb.Envelope()
        nonce = int.from_bytes(os.urandom(8), "little")
        env.ping.nonce = nonce
        t0 = time.monotonic()
        reply = self.request(env, timeout)
        if reply.pong.nonce != nonce:
            raise ProtocolError(None, "Pong with another nonce")
        return time.monotonic() - t0


def _ended(e: Exception) -> bool:
    """The connection ended the way a broker that stops or restarts ends it:
    a hang-up, or ProtocolError SHUTTING_DOWN."""
    if isinstance(e, ProtocolError):
        return bool(e.code == pb.PROTOCOL_ERROR_SHUTTING_DOWN)
    return isinstance(e, ConnectionClosed)


def _kind_value(k: Union[str, int]) -> int:
    if isinstance(k, int):
        return k
    names = {"job_error": "EVENT_KIND_JOB_ERROR", "error": "EVENT_KIND_JOB_ERROR",
             "job_transferred": "EVENT_KIND_JOB_TRANSFERRED",
             "transferred": "EVENT_KIND_JOB_TRANSFERRED",
             "job_modified": "EVENT_KIND_JOB_MODIFIED", "modified": "EVENT_KIND_JOB_MODIFIED",
             "resolution": "EVENT_KIND_RESOLUTION"}
    if k not in names:
        raise ValueError("unknown event kind %r (expected job_error, job_transferred, "
                         "job_modified or resolution)" % k)
    return int(pb.EventKind.Value(names[k]))


def connect(endpoint: Optional[str] = None, *, name: str = "python", role: str = "observer",
            job_ids: Iterable[JobId] = (), prefix: str = "",
            kinds: Iterable[Union[str, int]] = (), timeout: float = 5.0) -> Client:
    """Client(...): connects and does the handshake."""
    return Client(endpoint, name=name, role=role, job_ids=job_ids, prefix=prefix, kinds=kinds,
                  timeout=timeout)


def stats_dict(s: Any) -> Dict[str, Any]:
    """A Stats message as a plain dict (for printing or JSON)."""
    return {f.name: getattr(s, f.name) for f in s.DESCRIPTOR.fields if f.name != "sessions"}
