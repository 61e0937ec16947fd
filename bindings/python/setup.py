"""Build step of the dobroker package: the protobuf module is generated from
proto/dobroker.proto with protoc when the package is built (never committed).

pyproject.toml holds the metadata; this file only adds protoc to build_py.
The .proto is found in $DOBROKER_PROTO, else in proto/ beside this file (an
sdist), else in the source tree (../../proto/dobroker.proto).
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_proto():
    for p in (os.environ.get("DOBROKER_PROTO"),
              os.path.join(HERE, "proto", "dobroker.proto"),
              os.path.join(HERE, "..", "..", "proto", "dobroker.proto")):
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    raise SystemExit("dobroker: proto/dobroker.proto not found "
                     "(set DOBROKER_PROTO to its path)")


class BuildWithProtoc(build_py):
    """build_py, plus dobroker/dobroker_pb2.py made by protoc."""

    def run(self):
        super().run()
        protoc = os.environ.get("PROTOC") or shutil.which("protoc")
        if not protoc:
            raise SystemExit("dobroker: protoc not found (Debian: protobuf-compiler)")
        proto = find_proto()
        out = os.path.join(self.build_lib, "dobroker")
        os.makedirs(out, exist_ok=True)
        subprocess.check_call([protoc, "--proto_path=" + os.path.dirname(proto),
                               "--python_out=" + out, proto])


setup(cmdclass={"build_py": BuildWithProtoc})
