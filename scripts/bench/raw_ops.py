#!/usr/bin/env python3
"""Raw-FTP baselines for bench.sh's metadata and small-file rows: one ftplib connection, one
command after another, as a script would do them without a filesystem.

    raw_ops.py HOST PORT USER WHAT DIR [N] [--max-seconds T]   (password in FTP_PASSWORD)

WHAT is one of
    create  STOR N files of 4 KiB into DIR (each waits for the server's 226)
    unlink  DELE every file DIR lists (NLST once, untimed)
    mkdir   MKD DIR/dNNNN, N of them
    rmdir   RMD DIR/dNNNN, N of them (after mkdir)
    read    RETR every file under DIR in byte-wise sorted path order (one NLST per directory,
            untimed), each into memory; prints sha256 of all bytes concatenated when every file
            was read (compare with the manifest's tree_cat_sha256)

Prints one line: `secs=1.234 ops=1000 planned=1000 capped=0 [sha256=HEX]`. With --max-seconds
the loop stops when the time is up; the rate is then over the operations done (capped=1).
"""

import argparse
import ftplib
import hashlib
import io
import os
import sys
import time


def walk(ftp, top):
    """Every file path of bench.sh's two-level tree (top/dNNN/FILE), one NLST per directory,
    untimed. vsftpd has no MLSD, and NLST answers with names or with paths, depending on the
    server: both are taken."""

    def names(d):
        return [n if "/" in n else f"{d}/{n}" for n in ftp.nlst(d)]

    files = [f for d in names(top) for f in names(d)]
    return sorted(files, key=lambda p: p.encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("what", choices=["create", "unlink", "mkdir", "rmdir", "read"])
    ap.add_argument("dir")
    ap.add_argument("n", type=int, nargs="?", default=0)
    ap.add_argument("--max-seconds", type=float, default=0.0, help="0: no cap")
    a = ap.parse_args()

    ftp = ftplib.FTP()
    ftp.connect(a.host, a.port, timeout=60)
    ftp.login(a.user, os.environ.get("FTP_PASSWORD", ""))
    ftp.voidcmd("TYPE I")
    digest = hashlib.sha256()
    data = bytes(range(256)) * 16

    if a.what == "create":
        jobs = [lambda i=i: ftp.storbinary(f"STOR {a.dir}/r{i:05d}", io.BytesIO(data)) for i in range(a.n)]
    elif a.what == "unlink":
        names = sorted(ftp.nlst(a.dir))
        jobs = [lambda p=p: ftp.delete(p if "/" in p else f"{a.dir}/{p}") for p in names]
    elif a.what == "mkdir":
        jobs = [lambda i=i: ftp.mkd(f"{a.dir}/d{i:04d}") for i in range(a.n)]
    elif a.what == "rmdir":
        jobs = [lambda i=i: ftp.rmd(f"{a.dir}/d{i:04d}") for i in range(a.n)]
    else:
        jobs = [lambda p=p: ftp.retrbinary(f"RETR {p}", digest.update) for p in walk(ftp, a.dir)]

    done = 0
    capped = 0
    t0 = time.monotonic()
    for job in jobs:
        if a.max_seconds and time.monotonic() - t0 > a.max_seconds:
            capped = 1
            break
        job()
        done += 1
    secs = time.monotonic() - t0
    ftp.quit()
    extra = f" sha256={digest.hexdigest()}" if a.what == "read" and not capped else ""
    print(f"secs={secs:.3f} ops={done} planned={len(jobs)} capped={capped}{extra}")


if __name__ == "__main__":
    try:
        main()
    except ftplib.all_errors as e:
        print(f"raw_ops: {e}", file=sys.stderr)
        sys.exit(1)
