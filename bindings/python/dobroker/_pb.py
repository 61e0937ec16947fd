"""The protobuf module generated from proto/dobroker.proto.

An installed package has it as dobroker/dobroker_pb2.py (made by protoc when
the package is built). Used straight from the source tree (the examples, the
tests), it is the one `make pygen` writes to build/py, or the one in
$DOBROKER_PYGEN.

Its classes are made at import time from the descriptor, so type checkers
see the module as Any.
"""

import importlib
import importlib.util
import os
import sys
from typing import Any


def _load() -> Any:
    try:
        return importlib.import_module(__package__ + ".dobroker_pb2")
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = [os.environ.get("DOBROKER_PYGEN"), os.path.join(here, "..", "..", "..", "build", "py")]
    path = next((os.path.join(d, "dobroker_pb2.py") for d in dirs
                 if d and os.path.isfile(os.path.join(d, "dobroker_pb2.py"))), None)
    if path is None:
        raise ImportError("dobroker: the generated dobroker_pb2 module is missing: install "
                          "the package (pip install bindings/python), or run 'make pygen' "
                          "in the source tree, or set DOBROKER_PYGEN")
    spec = importlib.util.spec_from_file_location(__package__ + ".dobroker_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pb: Any = _load()

__all__ = ["pb"]
