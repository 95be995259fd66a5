#!/usr/bin/env python3
"""sha256.py FILE|-  : prints "HEX BYTES" for a file or standard input.

Python's hashlib uses OpenSSL's SHA-256 (with the CPU's SHA extensions where present), several
times faster than coreutils' sha256sum on the same machine, so verifying 1 GiB costs about a second.
"""

import hashlib
import sys


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    h = hashlib.sha256()
    total = 0
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    f = sys.stdin.buffer.raw if sys.argv[1] == "-" else open(sys.argv[1], "rb", buffering=0)
    with f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            total += n
    print(h.hexdigest(), total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
