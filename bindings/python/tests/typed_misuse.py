"""What the package's type hints refuse: mypy --strict must report an error
on each line marked so, and on no other (test_types.py); never run."""

import dobroker


def misuse() -> None:
    c = dobroker.connect(timeout="5")  # error
    c.act(42, "resume")  # error
    n: int = dobroker.guid_str(b"x" * 16)  # error
    rtt: str = c.ping()  # error
    print(n, rtt)
