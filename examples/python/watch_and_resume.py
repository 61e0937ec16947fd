#!/usr/bin/python3
"""watch_and_resume - an example controller for dobrokerd.

Connects as a controller, prints every JobError, answers it by a rule, and
prints the ActionResult and every Resolution. The rule: answer with --action
(resume or cancel); with --max-resumes N, a job this program has already
resumed N times is cancelled instead.

    examples/python/watch_and_resume.py --endpoint /run/user/1000/dobroker.sock \\
        --action resume --max-resumes 2 --json --count 10

It uses the dobroker package (bindings/python): installed with pip, or
straight from this source tree (then `make pygen` first: the package finds
the generated protobuf module in build/py).

Output: one line per event, or with --json one JSON object per line with a
"type" of job_error, action_result, resolution, job_transferred,
job_modified or gap. Exit codes: 0 (--count reached), 1 usage, 2 cannot
connect, 3 protocol error or the broker closed the connection, 5 timeout.
"""

import argparse
import json
import os
import sys

try:
    import dobroker as dc
except ImportError:  # not installed: the package of this source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", "bindings", "python"))
    import dobroker as dc  # noqa: E402


def job_error_record(e):
    f = e.error.file if e.error.has_file else None
    return {
        "type": "job_error",
        "job_id": dc.guid_str(e.job.job_id),
        "episode_id": e.episode_id,
        "display_name": e.job.display_name,
        "state": dc.state_name(e.job.state),
        "hresult": "0x%08X" % e.error.hresult,
        "description": e.error.description,
        "url": f.remote_url if f else "",
        "local_name": f.local_name if f else "",
        "repeat_count": e.repeat_count,
        "replayed": e.replayed,
    }


def resolution_record(r):
    return {
        "type": "resolution",
        "job_id": dc.guid_str(r.job_id),
        "episode_id": r.episode_id,
        "action": dc.action_name(r.action),
        "resolved_by": dc.resolved_by_name(r.resolved_by),
        "actor": r.actor.client_name,
        "hresult": "0x%08X" % r.hresult,
        "new_state": dc.state_name(r.new_state),
        "message": r.message,
    }


def other_record(env):
    kind = env.WhichOneof("body")
    rec = {"type": kind}
    body = getattr(env, kind)
    if kind == "gap":
        rec["dropped"] = body.dropped
    else:
        rec["job_id"] = dc.guid_str(body.job.job_id)
        rec["state"] = dc.state_name(body.job.state)
    return rec


def human(rec):
    t = rec["type"]
    if t == "job_error":
        return "error: %s episode %d %s: %s [%s -> %s]" % (
            rec["job_id"], rec["episode_id"], rec["hresult"], rec["description"],
            rec["url"], rec["local_name"])
    if t == "action_result":
        return "  -> %s: %s%s" % (rec["action"], rec["status"],
                                 ": " + rec["message"] if rec["message"] else "")
    if t == "resolution":
        return "resolved: %s episode %d by %s (%s): %s, now %s" % (
            rec["job_id"], rec["episode_id"], rec["resolved_by"], rec["actor"],
            rec["action"], rec["new_state"])
    return "%s: %s" % (t, json.dumps(rec))


class Printer:
    def __init__(self, as_json):
        self.as_json = as_json

    def __call__(self, rec):
        print(json.dumps(rec) if self.as_json else human(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", help="socket path or pipe name (default: the broker's)")
    ap.add_argument("--name", default="watch_and_resume.py")
    ap.add_argument("--action", choices=("resume", "cancel"), default="resume")
    ap.add_argument("--max-resumes", type=int, default=0,
                    help="cancel a job once it was resumed this many times (0: no limit)")
    ap.add_argument("--count", type=int, default=0, help="exit after N events (0: never)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds, per request")
    args = ap.parse_args()
    out = Printer(args.json)

    try:
        conn = dc.connect(args.endpoint, name=args.name, role="controller",
                          timeout=args.timeout)
    except dc.ProtocolError as e:
        print("watch_and_resume: the broker refused: %s" % e, file=sys.stderr)
        return 3
    except (OSError, TimeoutError) as e:
        print("watch_and_resume: cannot connect to %s: %s"
              % (args.endpoint or dc.default_endpoint(), e), file=sys.stderr)
        return 2

    resumed = {}
    seen = 0
    try:
        with conn:
            while not args.count or seen < args.count:
                ev = conn.next_event()
                seen += 1
                if ev.kind == "resolution":
                    out(resolution_record(ev.body))
                    continue
                if ev.kind != "job_error":
                    out(other_record(ev.envelope))
                    continue
                e = ev.body
                out(job_error_record(e))
                action = args.action
                n = resumed.get(e.job.job_id, 0)
                if action == "resume" and args.max_resumes and n >= args.max_resumes:
                    action = "cancel"
                if action == "resume":
                    resumed[e.job.job_id] = n + 1
                r = conn.act(e.job.job_id, action, episode_id=e.episode_id,
                             timeout=args.timeout)
                out({"type": "action_result", "job_id": dc.guid_str(e.job.job_id),
                     "episode_id": e.episode_id, "action": action,
                     "status": dc.status_name(r.status), "message": r.message,
                     "new_state": dc.state_name(r.new_state)})
    except dc.ProtocolError as e:
        print("watch_and_resume: %s" % e, file=sys.stderr)
        return 3
    except dc.ConnectionClosed as e:
        print("watch_and_resume: %s" % e, file=sys.stderr)
        return 3
    except TimeoutError as e:
        print("watch_and_resume: %s" % e, file=sys.stderr)
        return 5
    return 0


if __name__ == "__main__":
    sys.exit(main())
