#!/usr/bin/python3
"""Interop test: the C codec against Python's protobuf runtime.

    make tests pygen && /usr/bin/python3 tests/interop/interop.py

Run it with Debian's /usr/bin/python3 (python3-protobuf); it imports the
dobroker_pb2 module that `make pygen` generates into build/py.

  1. C -> Python: `interop_tool encode` writes every sample of samples.json;
     Python decodes each frame and compares every field with the sample, and
     checks that re-serializing it gives C's bytes back (C writes canonical
     protobuf with nothing Python does not know).
  2. Python -> C: Python encodes the same samples; `interop_tool check`
     decodes them and compares every field.
  3. Unknown fields: the samples again, with unknown fields (every wire type)
     added to every message at every depth, as a newer peer would send them;
     C must decode them and ignore the additions.

Prints "ok ..." / "FAIL ..." per check and a closing "N passed, N failed";
exits 1 on any failure.
"""

import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import samples  # noqa: E402
from samples import FD, PRESENCE, ROOT, pb  # noqa: E402

TOOL = os.environ.get("INTEROP_TOOL", os.path.join(ROOT, "build", "native", "bin", "interop_tool"))
OUT = os.path.join(ROOT, "build", "interop")


class Counter:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, details=()):
        if ok:
            self.passed += 1
            print("ok %s" % what)
        else:
            self.failed += 1
            print("FAIL %s" % what)
            for d in details:
                print("  %s" % d)
        return ok


def diff(exp, got, path=""):
    """Every field of exp compared with got: a list of mismatch lines."""
    out = []
    mname = exp.DESCRIPTOR.name
    for f in exp.DESCRIPTOR.fields:
        p = "%s.%s" % (path, f.name) if path else f.name
        ev, gv = getattr(exp, f.name), getattr(got, f.name)
        if f.containing_oneof is not None or (mname, f.name) in PRESENCE:
            eh, gh = exp.HasField(f.name), got.HasField(f.name)
            if eh != gh:
                out.append("%s: %s, want %s" % (p, "present" if gh else "absent",
                                                 "present" if eh else "absent"))
                continue
            if not eh:
                continue
        if f.label == FD.LABEL_REPEATED:
            if f.type == FD.TYPE_MESSAGE:
                if len(ev) != len(gv):
                    out.append("%s: %d elements, want %d" % (p, len(gv), len(ev)))
                    continue
                for i, (a, b) in enumerate(zip(ev, gv)):
                    out.extend(diff(a, b, "%s[%d]" % (p, i)))
            else:
                a, b = list(ev), list(gv)
                if (mname, f.name) == ("Filter", "kinds"):  # a set in C
                    a, b = sorted(set(a)), sorted(set(b))
                if a != b:
                    out.append("%s: got %r, want %r" % (p, b, a))
        elif f.type == FD.TYPE_MESSAGE:
            out.extend(diff(ev, gv, p))
        elif ev != gv:
            out.append("%s: got %r, want %r" % (p, gv, ev))
    return out


def frame(body):
    return struct.pack("<I", len(body)) + body


def split_frames(data):
    """[body, ...] and the count of bytes left over after the last frame."""
    bodies, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, off)
        if n == 0 or off + 4 + n > len(data):
            break
        bodies.append(data[off + 4:off + 4 + n])
        off += 4 + n
    return bodies, len(data) - off


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(num, wire):
    return varint(num << 3 | wire)


# Unknown fields of every wire type, with numbers no version uses, up to the
# largest legal field number.
UNKNOWN = (tag(1000, 0) + varint(2 ** 64 - 1)
           + tag(1001, 2) + varint(5) + b"extra"
           + tag(1002, 1) + struct.pack("<Q", 0x0123456789ABCDEF)
           + tag(1003, 5) + struct.pack("<I", 0x80190194)
           + tag(2 ** 29 - 1, 0) + varint(7))


def add_unknowns(msg):
    """Add UNKNOWN to msg and to every sub-message under it; returns how
    many messages got it."""
    msg.MergeFromString(UNKNOWN)
    n = 1
    for f, v in msg.ListFields():
        if f.type == FD.TYPE_MESSAGE:
            for sub in (v if f.label == FD.LABEL_REPEATED else [v]):
                n += add_unknowns(sub)
    return n


def run_tool(t, args, what):
    try:
        r = subprocess.run([TOOL] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        t.check(False, what, [str(e)])
        return None
    return r


def c_to_python(t, items):
    path = os.path.join(OUT, "c_frames.bin")
    r = run_tool(t, ["encode", path], "C encodes the samples")
    if r is None or not t.check(r.returncode == 0, "C encodes the samples",
                                (r.stdout + r.stderr).splitlines()):
        return
    with open(path, "rb") as fp:
        data = fp.read()
    bodies, left = split_frames(data)
    t.check(len(bodies) == len(items) and left == 0,
            "C wrote %d frames and nothing else" % len(items),
            ["got %d frames, %d bytes left over" % (len(bodies), left)])
    for (name, exp), body in zip(items, bodies):
        got = pb.Envelope()
        try:
            got.ParseFromString(body)
        except Exception as e:  # DecodeError, or RuntimeWarning-turned-error
            t.check(False, "C -> Python %s: decodes" % name, [repr(e)])
            continue
        t.check(not (d := diff(exp, got)), "C -> Python %s: every field" % name, d)
        again = got.SerializeToString()
        t.check(again == body, "C -> Python %s: canonical bytes" % name,
                ["C wrote %d bytes: %s" % (len(body), body.hex()),
                 "Python %d bytes: %s" % (len(again), again.hex())])


def python_to_c(t, items, label, filename, unknowns):
    data = b""
    for name, env in items:
        msg = pb.Envelope()
        msg.CopyFrom(env)
        plain = msg.SerializeToString()
        if unknowns:
            n = add_unknowns(msg)
            body = msg.SerializeToString()
            # The additions must really be on the wire, or C proves nothing
            # (each adds UNKNOWN; enclosing length prefixes may grow too).
            t.check(len(body) >= len(plain) + n * len(UNKNOWN),
                    "%s %s: %d messages carry unknown fields" % (label, name, n),
                    ["plain %d bytes, with unknowns %d" % (len(plain), len(body))])
        else:
            body = plain
        data += frame(body)
    path = os.path.join(OUT, filename)
    with open(path, "wb") as fp:
        fp.write(data)
    r = run_tool(t, ["check", path], "%s: C checks" % label)
    if r is None:
        return
    lines = r.stdout.splitlines()
    for name, _ in items:
        details = [ln for ln in lines if ln.startswith("  %s: " % name)] or lines + r.stderr.splitlines()
        t.check(("ok %s" % name) in lines, "%s %s: C decodes every field" % (label, name), details)
    t.check(r.returncode == 0 and lines[-1:] == ["%d passed, 0 failed" % len(items)],
            "%s: C's verdict" % label, lines[-1:] + r.stderr.splitlines() + ["exit %d" % r.returncode])


def main():
    t = Counter()
    os.makedirs(OUT, exist_ok=True)
    items = samples.load()
    print("%d samples; C side: %s" % (len(items), os.path.relpath(TOOL, ROOT)))
    if not os.path.exists(TOOL):
        t.check(False, "interop_tool exists", ["%s is missing: run `make tests`" % TOOL])
    else:
        c_to_python(t, items)
        python_to_c(t, items, "Python -> C", "py_frames.bin", unknowns=False)
        python_to_c(t, items, "Python+unknown -> C", "py_unknown.bin", unknowns=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
