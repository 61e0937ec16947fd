"""The package against a real dobrokerd (sim backend): handshake, events,
act, submit, adopt, list, stats, ping, reconnect, the pipe transport, and
bad input."""

import os
import socket
import struct
import time
import unittest
from unittest import mock

import dobroker
from dobroker import client as dc
from dobroker import pb

from support import HANG, Broker, wait_for

NIGHTLY = "{6B29FC40-CA47-1067-B31D-00DD010662DA}"

SCENARIO = """
rule "*/missing/*" error http=404 after=50ms times=1
rule "*/forbidden/*" error http=403 after=50ms
default ok after=50ms
repeat off
modifications off
persist {dir}/sim-jobs.txt
job %s name="Nightly build" owner=uid:{uid} state=error http=404 description="Not Found"
file %s https://example.com/nightly.zip /tmp/nightly.zip size=10M done=3M
""" % (NIGHTLY, NIGHTLY)


def next_of(c, kind, job=None, timeout=HANG):
    """The next event of that kind (and job); fails after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = c.next_event(timeout=max(0.0, deadline - time.monotonic()))
        if ev is not None and ev.kind == kind and (job is None or ev.job_id == job):
            return ev
    raise AssertionError("no %s%s within %.0f s" % (kind, " for " + job if job else "", timeout))


class BrokerTest(unittest.TestCase):
    def setUp(self):
        self.b = Broker(SCENARIO)
        self.addCleanup(self.b.cleanup)
        self.b.start()

    def connect(self, **kw):
        kw.setdefault("name", "py-test")
        c = dobroker.connect(self.b.sock, **kw)
        self.addCleanup(c.close)
        return c

    def path(self, name):
        return os.path.join(self.b.files, name)


class TestRequests(BrokerTest):
    def test_welcome_ping_stats(self):
        c = self.connect()
        self.assertEqual(c.welcome.version, dobroker.PROTOCOL_VERSION)
        self.assertEqual(c.welcome.backend, pb.BACKEND_SIM)
        self.assertTrue(c.welcome.broker_version.startswith("dobroker "), c.welcome.broker_version)
        self.assertEqual(c.welcome.identity.pid, os.getpid())
        rtt = c.ping()
        self.assertGreaterEqual(rtt, 0.0)
        other = self.connect(name="py-other")
        s = c.stats()
        # the other client; the one asking is not counted
        self.assertEqual(s.subscribers, 1)
        other.close()
        self.assertIn("uptime_ms", dobroker.stats_dict(s))

    def test_submit_error_act_resolution_transferred(self):
        c = self.connect(role="controller", name="py-controller")
        job = c.submit("https://cdn.example.com/missing/a.bin", self.path("a.bin"),
                       display_name="py download")
        jid = dobroker.guid_str(job.job.job_id)
        self.assertEqual(job.job.display_name, "py download")

        ev = next_of(c, "job_error", jid)
        e = ev.body
        self.assertEqual(e.error.hresult, 0x80190194)
        self.assertEqual(dobroker.state_name(e.job.state), "ERROR")
        self.assertTrue(e.error.has_file)
        self.assertEqual(e.error.file.remote_url, "https://cdn.example.com/missing/a.bin")
        self.assertEqual(e.error.file.local_name, self.path("a.bin"))
        self.assertGreater(e.episode_id, 0)

        r = c.act(jid, "resume", episode_id=e.episode_id)
        self.assertEqual(dobroker.status_name(r.status), "OK", r.message)
        res = next_of(c, "resolution", jid).body
        self.assertEqual(res.episode_id, e.episode_id)
        self.assertEqual(dobroker.action_name(res.action), "resume")
        self.assertEqual(dobroker.resolved_by_name(res.resolved_by), "controller")
        self.assertEqual(res.actor.client_name, "py-controller")
        next_of(c, "job_transferred", jid)

        # A second answer to the same episode: it is no longer pending.
        r2 = c.act(jid, "cancel", episode_id=e.episode_id)
        self.assertNotEqual(r2.status, pb.STATUS_OK)

        jobs = {dobroker.guid_str(j.job.job_id): j for j in c.list_jobs()}
        self.assertIn(jid, jobs)
        self.assertEqual(jobs[jid].job.state, pb.JOB_STATE_TRANSFERRED)
        self.assertEqual(jobs[jid].owner.pid, os.getpid())

    def test_events_while_waiting_for_a_reply_are_queued(self):
        c = self.connect(role="controller")
        watcher = self.connect(name="py-watcher")
        job = c.submit("https://cdn.example.com/forbidden/q", self.path("q"))
        jid = dobroker.guid_str(job.job.job_id)
        next_of(watcher, "job_error", jid)  # the error exists now
        # c has not read it yet: it arrives with (or before) the Pong.
        c.ping()
        self.assertGreaterEqual(c.pending(), 1)
        ev = c.next_event(timeout=0)
        self.assertEqual((ev.kind, ev.job_id), ("job_error", jid))
        self.assertEqual(ev.body.error.hresult, 0x80190193)
        self.assertEqual(dobroker.context_name(ev.body.error.context), "REMOTE_FILE")

    def test_filter_by_kind_and_job(self):
        c = self.connect(role="controller")
        only = self.connect(name="py-filtered", kinds=["resolution"])
        job = c.submit("https://cdn.example.com/missing/f", self.path("f"))
        jid = dobroker.guid_str(job.job.job_id)
        e = next_of(c, "job_error", jid).body
        self.assertEqual(c.act(jid, "cancel", episode_id=e.episode_id).status, pb.STATUS_OK)
        ev = only.next_event(timeout=HANG)
        self.assertEqual((ev.kind, ev.job_id), ("resolution", jid))
        self.assertEqual(ev.body.action, pb.ACTION_CANCEL)

    def test_next_event_timeout_returns_none(self):
        c = self.connect()
        t0 = time.monotonic()
        self.assertIsNone(c.next_event(timeout=0.05))
        self.assertGreaterEqual(time.monotonic() - t0, 0.05)

    def test_observer_may_not_act(self):
        ctl = self.connect(role="controller")
        obs = self.connect()
        job = ctl.submit("https://cdn.example.com/forbidden/o", self.path("o"))
        jid = dobroker.guid_str(job.job.job_id)
        e = next_of(obs, "job_error", jid).body
        r = obs.act(jid, "cancel", episode_id=e.episode_id)
        self.assertEqual(dobroker.status_name(r.status), "NOT_CONTROLLER")

    def test_adopt(self):
        c = self.connect(role="controller")
        s = c.adopt(NIGHTLY, "resume:2:100:cancel", deadline_ms=60000)
        self.assertEqual(dobroker.guid_str(s.job.job_id), NIGHTLY)
        self.assertEqual(s.policy.kind, pb.POLICY_KIND_RESUME)
        self.assertEqual((s.policy.max_resumes, s.policy.backoff_ms), (2, 100))
        self.assertEqual(s.policy.exhausted, pb.POLICY_KIND_CANCEL)
        # The job was in error before: the callback comes once it is attached.
        e = next_of(c, "job_error", NIGHTLY).body
        self.assertEqual(e.job.display_name, "Nightly build")
        self.assertEqual(e.error.description, "Not Found")
        with self.assertRaises(dobroker.RequestFailed) as cm:
            c.adopt(NIGHTLY)
        self.assertEqual(cm.exception.status, pb.STATUS_ALREADY_MANAGED)
        with self.assertRaises(dobroker.RequestFailed) as cm:
            c.adopt("{00000000-1111-2222-3333-444444444444}")
        self.assertEqual(cm.exception.status, pb.STATUS_UNKNOWN_JOB)
        self.assertIn("UNKNOWN_JOB", str(cm.exception))

    def test_submit_refused(self):
        c = self.connect(role="controller")
        with self.assertRaises(dobroker.RequestFailed) as cm:
            c.submit("https://cdn.example.com/x", "relative/path.bin")
        # a relative path is refused as an argument, before any check on disk
        self.assertEqual(cm.exception.status, pb.STATUS_INVALID_ARGUMENT)
        self.assertIn("INVALID_ARGUMENT", str(cm.exception))

    def test_act_on_unknown_job(self):
        c = self.connect(role="controller")
        r = c.act("{00000000-1111-2222-3333-444444444444}", "cancel")
        self.assertEqual(dobroker.status_name(r.status), "UNKNOWN_JOB")


class TestReconnect(BrokerTest):
    def test_reconnect_after_restart_skips_replays_already_seen(self):
        c = self.connect(role="controller", name="py-reconnect")
        job = c.submit("https://cdn.example.com/forbidden/r", self.path("r"))
        jid = dobroker.guid_str(job.job.job_id)
        it = c.events(reconnect=True, reconnect_timeout=HANG)
        first = next(ev for ev in it if ev.kind == "job_error" and ev.job_id == jid)

        self.assertEqual(self.b.stop(), 0, self.b.text())
        self.b.start()
        other = self.connect(role="controller", name="py-other")
        job2 = other.submit("https://cdn.example.com/forbidden/r2", self.path("r2"))
        jid2 = dobroker.guid_str(job2.job.job_id)
        next_of(other, "job_error", jid2)

        # The iterator reconnects by itself; the replay of the episode it
        # gave already is skipped, so the next event is the new job's.
        ev = next(it)
        self.assertEqual((ev.kind, ev.job_id), ("job_error", jid2))
        self.assertGreaterEqual(c.welcome.pending_episodes, 2)  # both were replayed to it
        self.assertEqual(c.act(jid, "cancel", episode_id=first.body.episode_id).status,
                         pb.STATUS_OK)

    def test_reconnect_gives_up_after_its_timeout(self):
        c = self.connect()
        self.b.stop()
        # The broker says it is stopping (or just hangs up).
        with self.assertRaises((dobroker.ConnectionClosed, dobroker.ProtocolError)) as cm:
            c.next_event(timeout=HANG)
        if isinstance(cm.exception, dobroker.ProtocolError):
            self.assertEqual(cm.exception.code, pb.PROTOCOL_ERROR_SHUTTING_DOWN)
        self.assertTrue(c.closed)
        with self.assertRaises(OSError):
            c.reconnect(timeout=0.2)
        self.b.start()
        c.reconnect(timeout=HANG)
        self.assertGreaterEqual(c.ping(), 0.0)

    def test_connect_without_broker(self):
        with self.assertRaises(FileNotFoundError):
            dobroker.connect(os.path.join(self.b.dir, "nothing.sock"))


class TestPipeTransport(BrokerTest):
    """The Windows transport (a file read by a thread, for timeouts) over a
    file made from a Unix socket: everything but the open() of the pipe."""

    def test_file_transport_against_the_broker(self):
        socks = []

        def opener(endpoint, timeout):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(endpoint)
            socks.append(s)
            return dc._FileTransport(s.makefile("rwb", buffering=0))

        with mock.patch.object(dc, "_open_transport", opener):
            c = self.connect(role="controller")
        self.addCleanup(lambda: [s.close() for s in socks])
        self.assertIsInstance(c._transport, dc._FileTransport)
        self.assertIsNone(c.next_event(timeout=0.05))
        c.ping()
        job = c.submit("https://cdn.example.com/missing/p", self.path("p"))
        jid = dobroker.guid_str(job.job.job_id)
        e = next_of(c, "job_error", jid).body
        self.assertEqual(c.act(jid, "resume", episode_id=e.episode_id).status, pb.STATUS_OK)
        next_of(c, "resolution", jid)

    @unittest.skipUnless(os.name == "nt", "Windows only: opening \\\\.\\pipe\\NAME needs a "
                         "Windows broker; the pipe transport itself is tested over a socket")
    def test_named_pipe(self):  # pragma: no cover - Windows
        c = dobroker.connect(os.environ.get("DOBROKER_PIPE", dobroker.default_endpoint()))
        c.ping()
        c.close()


class TestProtocolErrors(BrokerTest):
    def test_broker_protocol_error_is_raised(self):
        c = self.connect()
        # An Act with a job id of 3 bytes: the broker answers ProtocolError.
        env = pb.Envelope(correlation_id=99)
        env.act.job_id = b"abc"
        env.act.action = pb.ACTION_CANCEL
        c._transport.send(dobroker.encode_frame(env))
        with self.assertRaises(dobroker.ProtocolError) as cm:
            c.next_event(timeout=HANG)
        self.assertEqual(cm.exception.code, pb.PROTOCOL_ERROR_INVALID_FIELD)
        self.assertTrue(c.closed)
        with self.assertRaises(dobroker.ConnectionClosed):
            c.ping()


class TestBadInput(unittest.TestCase):
    def test_guid_text_and_bytes(self):
        b = dobroker.guid_bytes(NIGHTLY)
        self.assertEqual(b.hex(), "40fc296b47ca6710b31d00dd010662da")
        self.assertEqual(dobroker.guid_str(b), NIGHTLY)
        self.assertEqual(dobroker.guid_bytes(NIGHTLY.lower().strip("{}")), b)
        self.assertEqual(dobroker.job_id_bytes(b), b)
        for bad in ("", "{6B29FC40-CA47-1067-B31D-00DD010662DA", "6B29FC40CA471067B31D00DD010662DA",
                    "{6B29FC40-CA47-1067-B31D-00DD010662DX}"):
            with self.assertRaisesRegex(ValueError, "not a GUID"):
                dobroker.guid_bytes(bad)
        with self.assertRaisesRegex(ValueError, "16 bytes, not 3"):
            dobroker.guid_str(b"abc")
        with self.assertRaisesRegex(ValueError, "16 bytes, not 15"):
            dobroker.job_id_bytes(b[:15])
        with self.assertRaises(TypeError):
            dobroker.job_id_bytes(42)

    def test_names_and_policies(self):
        self.assertEqual(dobroker.action_value("resume-after-delay"), pb.ACTION_RESUME_AFTER_DELAY)
        self.assertEqual(dobroker.action_value("ACTION_CANCEL"), pb.ACTION_CANCEL)
        for bad in ("explode", "unspecified", ""):
            with self.assertRaisesRegex(ValueError, "unknown action"):
                dobroker.action_value(bad)
        with self.assertRaisesRegex(ValueError, "unknown action 0"):
            dobroker.action_value(0)
        p = dobroker.make_policy("resume:3:500:complete", deadline_ms=9)
        self.assertEqual((p.kind, p.max_resumes, p.backoff_ms, p.exhausted, p.deadline_ms),
                         (pb.POLICY_KIND_RESUME, 3, 500, pb.POLICY_KIND_COMPLETE, 9))
        self.assertEqual(dobroker.make_policy("cancel").kind, pb.POLICY_KIND_CANCEL)
        for bad, msg in (("resume", "expected resume:MAX"), ("resume:x:1", "expected resume:MAX"),
                         ("resume:1:1:resume", "after the last resume"),
                         ("cancel:1", "only resume takes"), ("later", "unknown policy")):
            with self.assertRaisesRegex(ValueError, msg):
                dobroker.make_policy(bad)
        self.assertEqual(dobroker.state_name(4), "ERROR")
        self.assertEqual(dobroker.state_name(99), "99")  # a newer broker's value

    def test_client_arguments(self):
        with self.assertRaisesRegex(ValueError, "observer' or 'controller"):
            dobroker.Client("/nonexistent", role="boss")
        with self.assertRaisesRegex(ValueError, "1 to 64 characters"):
            dobroker.Client("/nonexistent", name="")
        with self.assertRaisesRegex(ValueError, "unknown event kind"):
            dobroker.Client("/nonexistent", kinds=["everything"])

    def test_act_arguments_checked_before_sending(self):
        c = dobroker.Client.__new__(dobroker.Client)  # never connected
        with self.assertRaisesRegex(ValueError, "delay_ms from 1"):
            dobroker.Client.act(c, NIGHTLY, "resume-after-delay")
        with self.assertRaisesRegex(ValueError, "only for resume-after-delay"):
            dobroker.Client.act(c, NIGHTLY, "resume", delay_ms=5)

    def test_frames(self):
        ping = pb.Envelope(correlation_id=1)
        ping.ping.nonce = 7
        data = dobroker.encode_frame(ping)
        self.assertEqual(struct.unpack_from("<I", data)[0], len(data) - 4)
        self.assertEqual(dobroker.decode_frames(data * 3), [ping] * 3)
        with self.assertRaisesRegex(ValueError, "without a body"):
            dobroker.encode_frame(pb.Envelope())
        big = pb.Envelope()
        big.hello.client_name = "x" * 70000
        with self.assertRaisesRegex(ValueError, "above the limit of 65536"):
            dobroker.encode_frame(big)
        with self.assertRaisesRegex(dobroker.ProtocolError, "empty frame"):
            dobroker.decode_frames(b"\0\0\0\0")
        with self.assertRaisesRegex(dobroker.ProtocolError, "70000 bytes is above"):
            dobroker.decode_frames(struct.pack("<I", 70000))
        with self.assertRaisesRegex(dobroker.ProtocolError, "malformed"):
            dobroker.decode_frames(struct.pack("<I", 2) + b"\xff\xff")
        with self.assertRaisesRegex(ValueError, "3 bytes after the last whole frame"):
            dobroker.decode_frames(data + data[:3])
        # Split at every byte: a frame comes out only when it is whole.
        r = dobroker.FrameReader()
        got = []
        for i in range(len(data)):
            r.feed(data[i:i + 1])
            env = r.next()
            if env is not None:
                got.append((i, env))
        self.assertEqual(got, [(len(data) - 1, ping)])


if __name__ == "__main__":
    unittest.main()
