#!/usr/bin/env python3
"""Random 4 KiB reads through a mounted file, checked against a reference copy.

    randread.py FILE REFERENCE [--count N] [--seed S] [--block B] [--max-seconds T]

Opens FILE (a file inside a mount) once and preads COUNT blocks at offsets drawn with a fixed
seed (block-aligned, anywhere in the file), comparing every block with the same range of
REFERENCE (the file on the server's disk). Stops early, and says so, once MAX-SECONDS have
passed. Prints one line of key=value pairs:

    reads=2000 planned=2000 secs=1.234 rate=1620.7 mismatches=0 capped=0

and exits 1 if any block differed (or came back short), 0 otherwise.
"""

import argparse
import os
import random
import sys
import time


def offsets(size, count, seed, block):
    """The offsets both this script and raw_randread.py read, in order."""
    rng = random.Random(seed)
    nblocks = size // block
    if nblocks < 1:
        raise SystemExit(f"file of {size} bytes is smaller than one block")
    return [rng.randrange(nblocks) * block for _ in range(count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("reference")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--max-seconds", type=float, default=0.0, help="0: no cap")
    a = ap.parse_args()

    size = os.stat(a.reference).st_size
    offs = offsets(size, a.count, a.seed, a.block)
    # The expected blocks are read before the clock starts: only the mount is timed.
    ref = os.open(a.reference, os.O_RDONLY)
    try:
        wants = [os.pread(ref, a.block, off) for off in offs]
    finally:
        os.close(ref)
    mismatches = 0
    done = 0
    capped = 0
    t0 = time.monotonic()
    fd = os.open(a.file, os.O_RDONLY)
    try:
        for off, want in zip(offs, wants):
            got = os.pread(fd, a.block, off)
            if got != want:
                mismatches += 1
                if mismatches <= 5:
                    print(f"randread: MISMATCH at offset {off}: got {len(got)} bytes, "
                          f"expected {len(want)}", file=sys.stderr)
            done += 1
            if a.max_seconds and time.monotonic() - t0 >= a.max_seconds and done < len(offs):
                capped = 1
                break
    finally:
        os.close(fd)
    secs = time.monotonic() - t0
    rate = done / secs if secs > 0 else 0.0
    print(f"reads={done} planned={len(offs)} secs={secs:.3f} rate={rate:.1f} "
          f"mismatches={mismatches} capped={capped}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
