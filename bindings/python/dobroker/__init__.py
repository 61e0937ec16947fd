"""dobroker: a client for dobrokerd, the Delivery Optimization / BITS job-error broker.

    import dobroker

    with dobroker.connect(name="my-app", role="controller") as c:
        for ev in c.events():
            if ev.kind == "job_error":
                e = ev.body
                print("error", ev.job_id, hex(e.error.hresult))
                r = c.act(e.job.job_id, "resume", episode_id=e.episode_id)
                print(dobroker.status_name(r.status))

Messages are the classes protoc generates from proto/dobroker.proto
(dobroker.pb.JobError, ...); the protocol is described in docs/protocol.md.
"""

from ._pb import pb
from .client import (DEFAULT_MAX_FRAME, EVENT_KINDS, PIPE_PREFIX, PROTOCOL_VERSION, Client,
                     ConnectionClosed, DobrokerError, Event, FrameReader, ProtocolError,
                     RequestFailed, action_name, action_value, connect, context_name,
                     decode_frames, default_endpoint, encode_frame, make_policy,
                     resolved_by_name, state_name, stats_dict, status_name)
from .guid import JobId, guid_bytes, guid_str, job_id_bytes

__version__ = "0.1.0"

__all__ = [
    "pb", "Client", "connect", "Event", "JobId",
    "DobrokerError", "ConnectionClosed", "ProtocolError", "RequestFailed",
    "encode_frame", "decode_frames", "FrameReader",
    "guid_str", "guid_bytes", "job_id_bytes", "make_policy", "default_endpoint",
    "state_name", "status_name", "action_name", "action_value", "resolved_by_name",
    "context_name", "stats_dict",
    "PROTOCOL_VERSION", "DEFAULT_MAX_FRAME", "EVENT_KINDS", "PIPE_PREFIX",
]
