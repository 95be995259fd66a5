#!/usr/bin/env python3
"""Write workloads for scripts/bench.sh, on a mounted directory, each checked on the server's disk.

    writes.py small   MNTDIR SERVERDIR N SIZE      create N files of SIZE bytes
    writes.py unlink  MNTDIR SERVERDIR             unlink every file in MNTDIR
    writes.py mkdir   MNTDIR SERVERDIR N           mkdir N directories dNNNN
    writes.py rmdir   MNTDIR SERVERDIR N           rmdir them again
    writes.py rdwr    MNTFILE SERVERFILE N SEED    N random 4 KiB pwrites into a file opened O_RDWR
    writes.py seq     MNTFILE SERVERFILE SOURCE    copy SOURCE to MNTFILE in 16 MiB writes, then
                                                   fsync and close (an upload a program can
                                                   trust: both wait for the server)

MNTDIR/MNTFILE is on the mount; SERVERDIR/SERVERFILE is the same place on the FTP server's disk.
The time runs until the server's disk shows the result (a mount that returns from close() before
the data is uploaded is timed until the upload is there, up to --wait seconds). Prints one line:

    secs=1.234 ops=1000 ok=1

and exits 1 if the server's disk does not show the expected result in time.
"""

import argparse
import hashlib
import os
import random
import sys
import time


def wait_for(check, limit):
    end = time.monotonic() + limit
    while True:
        if check():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def small(a):
    os.makedirs(a.mnt, exist_ok=True)
    data = bytes(range(256)) * (a.size // 256 + 1)
    data = data[: a.size]
    t0 = time.monotonic()
    for i in range(a.n):
        with open(os.path.join(a.mnt, f"s{i:05d}"), "wb") as f:
            f.write(data)

    def landed():
        try:
            names = [e for e in os.scandir(a.server) if e.name.startswith("s")]
        except FileNotFoundError:
            return False
        return len(names) == a.n and all(e.stat().st_size == a.size for e in names)

    ok = wait_for(landed, a.wait)
    return time.monotonic() - t0, a.n, ok


def unlink(a):
    names = sorted(os.listdir(a.mnt))
    t0 = time.monotonic()
    for n in names:
        os.unlink(os.path.join(a.mnt, n))
    ok = wait_for(lambda: not os.listdir(a.server), a.wait)
    return time.monotonic() - t0, len(names), ok


def mkdirs(a):
    os.makedirs(a.mnt, exist_ok=True)
    t0 = time.monotonic()
    for i in range(a.n):
        os.mkdir(os.path.join(a.mnt, f"d{i:04d}"))
    ok = wait_for(lambda: len(os.listdir(a.server)) == a.n, a.wait)
    return time.monotonic() - t0, a.n, ok


def rmdirs(a):
    t0 = time.monotonic()
    for i in range(a.n):
        os.rmdir(os.path.join(a.mnt, f"d{i:04d}"))
    ok = wait_for(lambda: not os.listdir(a.server), a.wait)
    return time.monotonic() - t0, a.n, ok


def rdwr(a):
    with open(a.server, "rb") as f:
        model = bytearray(f.read())
    rng = random.Random(a.seed)
    writes = []
    for i in range(a.n):
        off = rng.randrange(len(model) // 4096) * 4096
        block = bytes([i % 251]) * 4096
        writes.append((off, block))
        model[off : off + 4096] = block
    want = hashlib.sha256(model).hexdigest()

    def landed():
        try:
            with open(a.server, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest() == want
        except OSError:
            return False

    t0 = time.monotonic()
    fd = os.open(a.mnt, os.O_RDWR)
    try:
        for off, block in writes:
            os.pwrite(fd, block, off)
    finally:
        os.close(fd)
    ok = wait_for(landed, a.wait)
    return time.monotonic() - t0, a.n, ok


def seq(a):
    size = os.path.getsize(a.source)
    t0 = time.monotonic()
    with open(a.source, "rb") as src, open(a.mnt, "wb") as dst:
        while True:
            chunk = src.read(16 << 20)
            if not chunk:
                break
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())

    def landed():
        try:
            return os.path.getsize(a.server) == size
        except OSError:
            return False

    ok = wait_for(landed, a.wait)
    return time.monotonic() - t0, 1, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wait", type=float, default=120.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    # Each workload's positional arguments after MNT and SERVER, with their types.
    extra = {
        "small": [("n", int), ("size", int)],
        "unlink": [],
        "mkdir": [("n", int)],
        "rmdir": [("n", int)],
        "rdwr": [("n", int), ("seed", int)],
        "seq": [("source", str)],
    }
    for cmd, args in extra.items():
        p = sub.add_parser(cmd)
        p.add_argument("mnt")
        p.add_argument("server")
        for name, kind in args:
            p.add_argument(name, type=kind)
    a = ap.parse_args()
    work = {"small": small, "unlink": unlink, "mkdir": mkdirs, "rmdir": rmdirs, "rdwr": rdwr, "seq": seq}
    secs, ops, ok = work[a.cmd](a)
    print(f"secs={secs:.3f} ops={ops} ok={int(ok)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
