#!/usr/bin/env python3
"""The raw-FTP baseline for random reads: what one client connection can do without a filesystem.

    raw_randread.py HOST PORT USER REMOTE_PATH REFERENCE [--count N] [--seed S] [--block B]
                    [--max-seconds T]          (password in the environment: FTP_PASSWORD)

Logs in once, switches to binary, and for each offset (the same ones randread.py reads, from the
same seed) sends `REST offset` + `RETR path` over a fresh passive data connection, reads BLOCK
bytes, closes the data socket and reads the server's final reply (426 when the server noticed the
early close, 226 when the whole rest of the file had already been sent). Every block is compared
with REFERENCE. Prints the same key=value line as randread.py and exits 1 on any mismatch or
unexpected reply.
"""

import argparse
import ftplib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from randread import offsets  # noqa: E402  (same offsets, same seed)


def read_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("remote_path")
    ap.add_argument("reference")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--max-seconds", type=float, default=0.0, help="0: no cap")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    password = os.environ.get("FTP_PASSWORD", "")

    size = os.stat(a.reference).st_size
    offs = offsets(size, a.count, a.seed, a.block)
    with open(a.reference, "rb") as ref:
        wants = []
        for off in offs:
            ref.seek(off)
            wants.append(ref.read(a.block))

    mismatches = 0
    bad_replies = 0
    done = 0
    capped = 0
    ftp = ftplib.FTP()
    ftp.connect(a.host, a.port, timeout=a.timeout)
    ftp.login(a.user, password)
    ftp.voidcmd("TYPE I")
    t0 = time.monotonic()  # after the login: only the reads are timed
    for off, want in zip(offs, wants):
        conn = ftp.transfercmd("RETR " + a.remote_path, rest=off)
        got = read_exactly(conn, a.block)
        conn.close()
        reply = ftp.getmultiline()
        if not (reply.startswith("426") or reply.startswith("226")):
            bad_replies += 1
            if bad_replies <= 5:
                print(f"raw_randread: unexpected reply after offset {off}: {reply!r}",
                      file=sys.stderr)
        if got != want:
            mismatches += 1
            if mismatches <= 5:
                print(f"raw_randread: MISMATCH at offset {off}: got {len(got)} bytes, "
                      f"expected {len(want)}", file=sys.stderr)
        done += 1
        if a.max_seconds and time.monotonic() - t0 >= a.max_seconds and done < len(offs):
            capped = 1
            break
    secs = time.monotonic() - t0
    try:
        ftp.quit()
    except (ftplib.all_errors):
        ftp.close()
    rate = done / secs if secs > 0 else 0.0
    print(f"reads={done} planned={len(offs)} secs={secs:.3f} rate={rate:.1f} "
          f"mismatches={mismatches} capped={capped} bad_replies={bad_replies}")
    return 1 if (mismatches or bad_replies) else 0


if __name__ == "__main__":
    sys.exit(main())
