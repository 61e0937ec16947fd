"""The protobuf module generated from proto/dobroker.proto.

An installed package has it as dobroker/dobroker_pb2.py (made by protoc when
the package is built). Used straight from the source tree (the examples, the
tests), it is the one `make pygen` writes to build/py, or the one in
$DOBROKER_PYGEN.
"""

import importlib.util
import os
import sys

try:
    from . import dobroker_pb2 as pb  # type: ignore[attr-defined]
except ImportError:
    _here = os.path.dirname(os.path.abspath(__file__))
    _dirs = [os.environ.get("DOBROKER_PYGEN"),
             os.path.join(_here, "..", "..", "..", "build", "py")]
    _path = next((os.path.join(d, "dobroker_pb2.py") for d in _dirs
                  if d and os.path.isfile(os.path.join(d, "dobroker_pb2.py"))), None)
    if _path is None:
        raise ImportError("dobroker: the generated dobroker_pb2 module is missing: install "
                          "the package (pip install bindings/python), or run 'make pygen' "
                          "in the source tree, or set DOBROKER_PYGEN") from None
    _spec = importlib.util.spec_from_file_location("dobroker.dobroker_pb2", _path)
    assert _spec is not None and _spec.loader is not None
    pb = importlib.util.module_from_spec(_spec)
    sys.modules["dobroker.dobroker_pb2"] = pb
    _spec.loader.exec_module(pb)

__all__ = ["pb"]
