#!/bin/sh
# What `make demo` runs after scripts/bootstrap.sh.
#
# PLACEHOLDER until the broker exists: the newest thing that works end to
# end. It builds the project, has the C codec encode a sample JobError frame
# (the event a subscriber receives when a download fails), and decodes and
# prints it with Python's protobuf runtime, as a subscriber in another
# language would. The real demo (broker + subscriber) replaces this.
# Starts no background process.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

echo "==== dobroker demo (placeholder: C codec -> Python subscriber; the broker is not written yet)"
make --no-print-directory -j2 all pygen
mkdir -p build/demo
frame=build/demo/job_error.bin
build/native/bin/interop_tool encode "$frame" job_error
echo "==== the C codec wrote one JobError frame to $frame; Python decodes it:"
/usr/bin/python3 - "$frame" <<'EOF'
import os, struct, sys, uuid
sys.path.insert(0, os.path.join("build", "py"))
import dobroker_pb2 as pb
from google.protobuf import text_format

data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack_from("<I", data)
env = pb.Envelope.FromString(data[4:4 + n])
print("frame: 4-byte length %d + Envelope (%s)" % (n, env.WhichOneof("body")))
e = env.job_error
j, err = e.job, e.error
name = lambda enum, v: pb.DESCRIPTOR.enum_types_by_name[enum].values_by_number[v].name
total = "unknown" if j.progress.bytes_total == 2**64 - 1 else str(j.progress.bytes_total)
print("  episode  %d (callbacks after the first: %d%s)" % (
    e.episode_id, e.repeat_count, ", replayed" if e.replayed else ""))
print("  job      {%s} \"%s\" %s, state %s" % (
    str(uuid.UUID(bytes_le=j.job_id)).upper(), j.display_name,
    name("JobType", j.type), name("JobState", j.state)))
print("  progress %d of %s bytes, %d/%d files" % (
    j.progress.bytes_transferred, total, j.progress.files_transferred, j.progress.files_total))
print("  error    0x%08X in %s: %s" % (err.hresult, name("ErrorContext", err.context), err.description))
if err.has_file:
    print("  file     %s -> %s" % (err.file.remote_url, err.file.local_name))
p = e.default_policy
print("  policy   %s (max %d resumes, backoff %d ms, then %s)" % (
    name("PolicyKind", p.kind), p.max_resumes, p.backoff_ms, name("PolicyKind", p.exhausted)))
print("==== the whole message:")
print(text_format.MessageToString(env, as_utf8=True), end="")
EOF
