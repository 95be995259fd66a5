#!/usr/bin/env python3
"""Parallel readers for bench.sh: N programs, each reading its own file at the same time.

    parread.py cat FILE...                     one `cat FILE >/dev/null` per file
    parread.py curl HOST PORT USER PATH...     one `curl -o /dev/null` per path (FTP_PASSWORD)
    parread.py splice HOST PORT USER PATH...   one ftplib download per path, each on a thread of
                                               this one process (no interpreter start per reader
                                               in the CPU the bench counts), whose bytes go from
                                               the socket through a pipe to /dev/null (`splice`),
                                               never through user memory: what a download costs
                                               the machine without the copy every client makes

Starts them all at once, waits for each, and prints one line:

    secs=1.234 bytes=1073741824 each=1.100,1.150,1.200,1.234 busy=12,30,97,100 ok=1

secs is until the last one finished (the aggregate rate is bytes/secs); each lists every
reader's own time, to show whether they shared the link fairly. busy is the share of the
machine's CPU time that was busy (not idle, not waiting for I/O), in percent, over each 100 ms
from the start to the end of the last reader (the last share over what was left of its 100 ms):
far away the readers first wait for TCP's slow start, and only the part after that can be bound
by the CPU. ok=0 (exit 1) when a reader failed, or when curl's byte count differs from the
file's size given in BENCH_PAR_BYTES.
"""

import fcntl
import ftplib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

BUSY_STEP = 0.1


def cpu_times():
    """(all, idle + iowait) jiffies of the machine, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]


class Busy:
    """Samples the machine's busy share every BUSY_STEP seconds on a thread of its own."""

    def __init__(self):
        self.shares = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        last = cpu_times()
        while True:
            ended = self.done.wait(BUSY_STEP)
            now = cpu_times()
            total, idle = now[0] - last[0], now[1] - last[1]
            if total > 0:
                self.shares.append(round(100 * (total - idle) / total))
            last = now
            if ended:
                return

    def stop(self):
        """Ends the sampling: the busy= field of the output line."""
        self.done.set()
        self.thread.join()
        return ",".join(str(b) for b in self.shares)


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "cat":
        cmds = [["cat", "--", f] for f in rest]
        sizes = [os.path.getsize(f) for f in rest]
    elif mode == "curl":
        host, port, user, paths = rest[0], rest[1], rest[2], rest[3:]
        auth = f"{user}:{os.environ.get('FTP_PASSWORD', '')}"
        cmds = [["curl", "-sS", "-u", auth, "-o", "/dev/null", "-w", "%{size_download}",
                 f"ftp://{host}:{port}/{p.lstrip('/')}"] for p in paths]
        sizes = [int(os.environ["BENCH_PAR_BYTES"])] * len(paths)
    elif mode == "splice":
        spliced(rest[0], rest[1], rest[2], rest[3:], int(os.environ["BENCH_PAR_BYTES"]))
        return
    else:
        sys.exit(f"parread: unknown mode {mode}")

    busy = Busy()
    t0 = time.monotonic()
    counted = mode == "curl"
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE if counted else subprocess.DEVNULL)
             for c in cmds]
    ends = [None] * len(procs)
    outs = [b""] * len(procs)
    ok = True
    pending = set(range(len(procs)))
    while pending:
        for i in list(pending):
            if procs[i].poll() is not None:
                ends[i] = time.monotonic() - t0
                if procs[i].stdout:
                    outs[i] = procs[i].stdout.read()
                pending.discard(i)
                ok &= procs[i].returncode == 0
                if counted:
                    ok &= outs[i].strip() == str(sizes[i]).encode()
        time.sleep(0.005)
    secs = max(ends)
    each = ",".join(f"{e:.3f}" for e in ends)
    print(f"secs={secs:.3f} bytes={sum(sizes)} each={each} busy={busy.stop()} ok={int(ok)}")
    sys.exit(0 if ok else 1)


def splice_one(host, port, user, path):
    """Downloads PATH with its bytes spliced socket -> pipe -> /dev/null; returns the byte count."""
    ftp = ftplib.FTP(timeout=60)
    ftp.connect(host, int(port))
    ftp.login(user, os.environ.get("FTP_PASSWORD", ""))
    ftp.voidcmd("TYPE I")
    data = ftp.transfercmd("RETR " + path)
    # splice needs a blocking socket (Python's timeouts make it non-blocking); the kernel's own
    # receive timeout bounds the wait instead.
    data.settimeout(None)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 60, 0))
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 1 << 20)
    null = os.open(os.devnull, os.O_WRONLY)
    total = 0
    try:
        while True:
            n = os.splice(data.fileno(), w, 1 << 20)
            if n == 0:
                break
            total += n
            while n:
                n -= os.splice(r, null, n)
    finally:
        for fd in (r, w, null):
            os.close(fd)
    data.close()
    ftp.voidresp()
    ftp.quit()
    return total


def spliced(host, port, user, paths, size):
    """The splice mode: every download on a thread of its own, all started at once."""
    busy = Busy()
    t0 = time.monotonic()
    ends = [None] * len(paths)
    got = [None] * len(paths)

    def one(i):
        try:
            got[i] = splice_one(host, port, user, paths[i])
        except Exception as e:  # reported as a failed reader
            print(f"parread: {paths[i]}: {e}", file=sys.stderr)
        ends[i] = time.monotonic() - t0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = all(g == size for g in got)
    each = ",".join(f"{e:.3f}" for e in ends)
    print(f"secs={max(ends):.3f} bytes={size * len(paths)} each={each} busy={busy.stop()} ok={int(ok)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
