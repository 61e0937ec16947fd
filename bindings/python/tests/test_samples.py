"""The package's frames against the C codec, on the shared samples of
tests/interop/samples.json (the ones the C/Python interop test and the Node
package's tests use): the same bytes both ways, so C, Python and Node stay
byte-compatible."""

import json
import os
import subprocess
import tempfile
import unittest
import uuid

import dobroker
from dobroker import pb
from google.protobuf.descriptor import FieldDescriptor as FD

from support import ROOT

SAMPLES = os.path.join(ROOT, "tests", "interop", "samples.json")
TOOL = os.environ.get("INTEROP_TOOL", os.path.join(ROOT, "build", "native", "bin", "interop_tool"))


def build(msg, d, guids):
    """Fill msg from the JSON dict d (the notation of samples.json); the
    GUID texts met are appended to guids with their bytes."""
    msg.SetInParent()
    for key, v in d.items():
        f = msg.DESCRIPTOR.fields_by_name[key]
        if f.type == FD.TYPE_MESSAGE:
            for e in (v if f.label == FD.LABEL_REPEATED else [v]):
                build(getattr(msg, key).add() if f.label == FD.LABEL_REPEATED
                      else getattr(msg, key), e, guids)
            continue
        vals = v if f.label == FD.LABEL_REPEATED else [v]
        out = []
        for x in vals:
            if f.type == FD.TYPE_ENUM:
                x = f.enum_type.values_by_name[x].number if isinstance(x, str) else x
            elif f.type == FD.TYPE_BYTES:  # every bytes field is a GUID
                guids.append((x, uuid.UUID(x).bytes_le))
                x = dobroker.guid_bytes(x)
            elif f.type not in (FD.TYPE_STRING, FD.TYPE_BOOL):
                x = int(x, 0) if isinstance(x, str) else int(x)
            out.append(x)
        if f.label == FD.LABEL_REPEATED:
            getattr(msg, key).extend(out)
        else:
            setattr(msg, key, out[0])
    return msg


# Sub-messages whose presence C records in a flag; C writes every other
# sub-message, empty or not (it is embedded in its parent).
PRESENCE = {("JobModified", "error"), ("JobReply", "job")}


def normalized(msg):
    """A copy of msg with the empty sub-messages C writes and the .proto
    does not distinguish from absent ones cleared (recursively)."""
    out = type(msg)()
    out.CopyFrom(msg)

    def walk(m):
        for f, v in m.ListFields():
            if f.type != FD.TYPE_MESSAGE:
                continue
            for sub in (v if f.label == FD.LABEL_REPEATED else [v]):
                walk(sub)
            if (f.label != FD.LABEL_REPEATED and f.containing_oneof is None
                    and (m.DESCRIPTOR.name, f.name) not in PRESENCE and v.ByteSize() == 0):
                m.ClearField(f.name)
    walk(out)
    return out


def load():
    with open(SAMPLES, encoding="utf-8") as fp:
        doc = json.load(fp)
    guids = []
    items = [(s["name"], build(pb.Envelope(), s["envelope"], guids)) for s in doc["samples"]]
    return items, guids


class TestSamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(TOOL, os.X_OK):
            raise AssertionError("%s is missing: run 'make tests'" % TOOL)
        cls.items, cls.guids = load()
        cls.tmp = tempfile.mkdtemp(prefix="dobpy-samples.")

    @classmethod
    def tearDownClass(cls):
        for f in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, f))
        os.rmdir(cls.tmp)

    def tool(self, *args):
        return subprocess.run([TOOL] + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)

    def test_every_kind_is_sampled(self):
        names = {n for n, _ in self.items}
        bodies = {f.name for f in pb.Envelope.DESCRIPTOR.oneofs_by_name["body"].fields}
        self.assertEqual(names, bodies)

    def test_c_frames_decode_and_match_the_package_bytes(self):
        path = os.path.join(self.tmp, "c.bin")
        r = self.tool("encode", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(path, "rb") as f:
            data = f.read()
        got = dobroker.decode_frames(data)
        self.assertEqual(len(got), len(self.items))
        again = b"".join(dobroker.encode_frame(env) for env in got)
        for (name, exp), env in zip(self.items, got):
            with self.subTest(sample=name):
                self.assertEqual(normalized(env), normalized(exp))
        # C writes canonical protobuf: the package writes the same bytes back.
        self.assertEqual(again, data, "the package's frames differ from C's")

    def test_package_frames_pass_the_c_check(self):
        path = os.path.join(self.tmp, "py.bin")
        with open(path, "wb") as f:
            for _, env in self.items:
                f.write(dobroker.encode_frame(env))
        r = self.tool("check", path)
        lines = r.stdout.splitlines()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name, _ in self.items:
            self.assertIn("ok " + name, lines)
        self.assertEqual(lines[-1], "%d passed, 0 failed" % len(self.items))

    def test_guid_text_and_wire_layout(self):
        self.assertTrue(self.guids)
        for text, raw in self.guids:
            self.assertEqual(dobroker.guid_bytes(text), raw)
            self.assertEqual(dobroker.guid_str(raw), "{%s}" % text.strip("{}").upper())


if __name__ == "__main__":
    unittest.main()
