#!/usr/bin/python3
"""Tests of the dobroker Python package (unittest, from the standard library).

    /usr/bin/python3 bindings/python/tests/run.py [-k PATTERN]

Installs the package with pip into a temp directory first (offline:
--no-build-isolation uses Debian's setuptools; protoc generates the protobuf
module during the build), then runs every tests/test_*.py against that
install and real dobrokerd processes (build/native/bin/dobrokerd; `make`
first). Ends with "N passed, N failed" (skipped tests on a line of their
own); exits 1 when a test failed. Every broker is stopped on any exit.
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)


def install(target):
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
           "--no-deps", "--no-index", "--no-cache-dir", "--root-user-action=ignore", "--target", target, PKG]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        print("pip install failed (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        return False
    return True


def main():
    site = tempfile.mkdtemp(prefix="dobpy-site.")
    atexit.register(shutil.rmtree, site, True)
    sys.path.insert(0, HERE)
    import support
    atexit.register(support.stop_all)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))

    if not install(site):
        print("0 passed, 1 failed")
        return 1
    sys.path.insert(0, site)
    import dobroker
    where = os.path.dirname(os.path.abspath(dobroker.__file__))
    if where != os.path.join(site, "dobroker") or \
            not os.path.exists(os.path.join(where, "dobroker_pb2.py")):
        print("FAIL: dobroker imported from %s, not from the pip install in %s" % (where, site))
        print("0 passed, 1 failed")
        return 1
    print("dobroker %s installed by pip in %s" % (dobroker.__version__, site))

    loader = unittest.TestLoader()
    if len(sys.argv) > 2 and sys.argv[1] == "-k":
        loader.testNamePatterns = ["*%s*" % sys.argv[2]]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    for test, reason in result.skipped:
        print("SKIPPED %s: %s" % (test.id(), reason))
    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
