"""The package's type hints: mypy --strict over the installed package and
over an application's use of it (tests/typed_use.py), with Debian's
python3-mypy."""

import os
import subprocess
import sys
import unittest

import dobroker

HERE = os.path.dirname(os.path.abspath(__file__))


class TestTypes(unittest.TestCase):
    def mypy(self, *targets):
        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(dobroker.__file__)))
        env = dict(os.environ, MYPYPATH=pkg_parent)
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                               "--cache-dir", os.devnull, "--ignore-missing-imports",
                               "--follow-imports", "silent",
                               "--exclude", r"dobroker_pb2\.py$", *targets],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, cwd=pkg_parent, timeout=300)

    def test_package_and_its_use_pass_mypy_strict(self):
        r = self.mypy(os.path.dirname(os.path.abspath(dobroker.__file__)),
                      os.path.join(HERE, "typed_use.py"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_mypy_refuses_misuse(self):
        r = self.mypy(os.path.join(HERE, "typed_misuse.py"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        # One error per line marked "# error" there, and no other.
        with open(os.path.join(HERE, "typed_misuse.py")) as f:
            want = sorted(i + 1 for i, line in enumerate(f) if line.rstrip().endswith("# error"))
        got = sorted(int(line.split(":")[1]) for line in r.stdout.splitlines()
                     if ": error: " in line)
        self.assertEqual(got, want, r.stdout)


if __name__ == "__main__":
    unittest.main()
