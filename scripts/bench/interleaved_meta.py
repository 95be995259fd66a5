#!/usr/bin/env python3
"""What bounds the loopback metadata rows, measured interleaved on one server.

    FTP_PASSWORD=... interleaved_meta.py MOUNT HOST PORT USER [N [FLOOR_MOUNT:FLOOR_DIR]]

MOUNT is an ftpfs mount of the same server's login directory. Three rounds of N (1000) each of:
raw ftplib MKD; N statvfs calls on the mount (one FUSE round trip each, answered from memory);
mkdir through the mount; then raw RMD and rmdir through the mount; then, as a control, raw
SITE CHMOD and chmod through the mount (one FUSE request, one FTP command, nothing to look up or
forget). With FLOOR_MOUNT (examples/fuse_floor.rs mounted on the server's directory FLOOR_DIR,
which must be empty), the same mkdir and rmdir loops through it too, between raw's and ftpfs's:
the least a FUSE file system can do for them, so that what FUSE costs here and what ftpfs adds
to it are measured apart. Prints each round's times per operation and the ratios to raw. The
bench's own rows (meta_rows.py) interleave raw, the floor and ftpfs in chunks too; this adds a
FUSE round trip with nothing behind it (statvfs) and the chmod control.
"""
import ftplib
import os
import sys
import time


def timed(n, op):
    t0 = time.perf_counter()
    for i in range(n):
        op(i)
    return (time.perf_counter() - t0) / n * 1e6


def main():
    mnt, host, port, user = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    floor_mnt = floor_dir = None
    if len(sys.argv) > 6:
        floor_mnt, floor_dir = sys.argv[6].split(":", 1)
    f = ftplib.FTP()
    f.connect(host, int(port))
    f.login(user, os.environ["FTP_PASSWORD"])
    for rnd in range(3):
        d = "/meta%d_%d" % (os.getpid(), rnd)
        f.mkd(d)
        os.mkdir(mnt + d + "m")
        us = {}
        us["raw MKD"] = timed(n, lambda i: f.mkd("%s/r%05d" % (d, i)))
        if floor_mnt:
            us["floor mkdir"] = timed(n, lambda i: os.mkdir("%s/f%d_%05d" % (floor_mnt, rnd, i)))
        us["FUSE round trip"] = timed(n, lambda i: os.statvfs(mnt))
        us["mkdir"] = timed(n, lambda i: os.mkdir("%s%sm/m%05d" % (mnt, d, i)))
        us["raw RMD"] = timed(n, lambda i: f.rmd("%s/r%05d" % (d, i)))
        if floor_mnt:
            us["floor rmdir"] = timed(n, lambda i: os.rmdir("%s/f%d_%05d" % (floor_mnt, rnd, i)))
        us["rmdir"] = timed(n, lambda i: os.rmdir("%s%sm/m%05d" % (mnt, d, i)))
        # The control: chmod is one FUSE request (SETATTR) and one FTP command (SITE CHMOD), with
        # no name to look up or forget and a server that only sets a mode.
        name = "%sm/c" % d
        with open(mnt + name, "wb"):
            pass
        us["raw SITE CHMOD"] = timed(
            n, lambda i: f.sendcmd("SITE CHMOD %o %s" % (0o600 + (i % 2) * 0o44, name)))
        us["chmod"] = timed(n, lambda i: os.chmod(mnt + name, 0o600 + (i % 2) * 0o44))
        os.unlink(mnt + name)
        f.rmd(d)
        os.rmdir(mnt + d + "m")

        def vs(what, raw):
            return "%s %.1f (%.2fx)" % (what, us[what], us[raw] / us[what])

        parts = ["FUSE round trip %.1f us" % us["FUSE round trip"],
                 "raw MKD %.1f, " % us["raw MKD"]
                 + (vs("floor mkdir", "raw MKD") + ", " if floor_mnt else "")
                 + vs("mkdir", "raw MKD") + " via ftpfs",
                 "raw RMD %.1f, " % us["raw RMD"]
                 + (vs("floor rmdir", "raw RMD") + ", " if floor_mnt else "")
                 + vs("rmdir", "raw RMD") + " via ftpfs",
                 "raw SITE CHMOD %.1f, " % us["raw SITE CHMOD"]
                 + vs("chmod", "raw SITE CHMOD") + " via ftpfs"]
        print(" | ".join(parts), flush=True)
    f.quit()


if __name__ == "__main__":
    main()
