"""An application's use of the package, checked by mypy --strict
(test_types.py); never run."""

from typing import List, Optional

import dobroker


def controller(endpoint: Optional[str]) -> int:
    with dobroker.connect(endpoint, name="typed", role="controller",
                          kinds=["job_error", "resolution"]) as c:
        rtt: float = c.ping()
        jobs: List[object] = list(c.list_jobs())
        for ev in c.events(reconnect=True):
            kind: str = ev.kind
            job: Optional[str] = ev.job_id
            if kind == "job_error" and job is not None:
                r = c.act(job, "resume", episode_id=ev.body.episode_id)
                print(dobroker.status_name(r.status), rtt, len(jobs))
                return 0
        return 1


def job_ids() -> bytes:
    raw: bytes = dobroker.guid_bytes("{6B29FC40-CA47-1067-B31D-00DD010662DA}")
    text: str = dobroker.guid_str(raw)
    frame: bytes = dobroker.encode_frame(dobroker.pb.Envelope())
    return dobroker.job_id_bytes(text) + frame
