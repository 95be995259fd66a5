#!/usr/bin/env python3
"""What bounds the loopback metadata rows, measured interleaved on one server.

    FTP_PASSWORD=... interleaved_meta.py MOUNT HOST PORT USER [N]

MOUNT is an ftpfs mount of the same server's login directory. Three rounds of N (1000): raw ftplib
MKD, N statvfs calls on the mount (one FUSE round trip each, answered from memory), N mkdir through
the mount; then raw RMD and rmdir through the mount; then, as a control, raw SITE CHMOD and chmod
through the mount (one FUSE request, one FTP command, nothing to look up or forget). Prints each round's times per operation, the
ratios, and the bounds that raw plus the FUSE round trips allows (mkdir is two requests: a LOOKUP
of the new name, then MKDIR; rmdir one). The bench times its raw loops minutes apart from the
mount's, when the server's disk may be busy with an earlier upload; this does not.
"""
import ftplib
import os
import sys
import time


def main():
    mnt, host, port, user = sys.argv[1:5]
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    f = ftplib.FTP()
    f.connect(host, int(port))
    f.login(user, os.environ["FTP_PASSWORD"])
    for rnd in range(3):
        d = "/meta%d_%d" % (os.getpid(), rnd)
        f.mkd(d)
        os.mkdir(mnt + d + "m")
        t = [time.perf_counter()]
        for i in range(n):
            f.mkd("%s/r%05d" % (d, i))
        t.append(time.perf_counter())
        for _ in range(n):
            os.statvfs(mnt)
        t.append(time.perf_counter())
        for i in range(n):
            os.mkdir("%s%sm/m%05d" % (mnt, d, i))
        t.append(time.perf_counter())
        for i in range(n):
            f.rmd("%s/r%05d" % (d, i))
        t.append(time.perf_counter())
        for i in range(n):
            os.rmdir("%s%sm/m%05d" % (mnt, d, i))
        t.append(time.perf_counter())
        # The control: chmod is one FUSE request (SETATTR) and one FTP command (SITE CHMOD), with
        # no name to look up or forget and a server that only sets a mode: what is left over raw
        # plus one FUSE round trip is the cost of passing the call through a daemon.
        name = "%sm/c" % d
        with open(mnt + name, "wb"):
            pass
        for i in range(n):
            f.sendcmd("SITE CHMOD %o %s" % (0o600 + (i % 2) * 0o44, name))
        t.append(time.perf_counter())
        for i in range(n):
            os.chmod(mnt + name, 0o600 + (i % 2) * 0o44)
        t.append(time.perf_counter())
        os.unlink(mnt + name)
        raw_mk, hop, mnt_mk, raw_rm, mnt_rm, raw_ch, mnt_ch = (
            (b - a) / n * 1e6 for a, b in zip(t, t[1:]))
        print(
            "FUSE round trip %.1f us | raw MKD %.1f us, mkdir via mount %.1f us: %.2fx (raw + 2 "
            "round trips allows %.2fx) | raw RMD %.1f us, rmdir via mount %.1f us: %.2fx (raw + 1 "
            "allows %.2fx) | raw SITE CHMOD %.1f us, chmod via mount %.1f us: %.2fx (raw + 1 "
            "allows %.2fx)"
            % (hop, raw_mk, mnt_mk, raw_mk / mnt_mk, raw_mk / (raw_mk + 2 * hop), raw_rm, mnt_rm,
               raw_rm / mnt_rm, raw_rm / (raw_rm + hop), raw_ch, mnt_ch, raw_ch / mnt_ch,
               raw_ch / (raw_ch + hop))
        )
        f.rmd(d)
        os.rmdir(mnt + d + "m")
    f.quit()


if __name__ == "__main__":
    main()
