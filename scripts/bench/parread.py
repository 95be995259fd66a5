#!/usr/bin/env python3
"""Parallel readers for bench.sh: N programs, each reading its own file at the same time.

    parread.py cat FILE...                     one `cat FILE >/dev/null` per file
    parread.py curl HOST PORT USER PATH...     one `curl -o /dev/null` per path (FTP_PASSWORD)

Starts them all at once, waits for each, and prints one line:

    secs=1.234 bytes=1073741824 each=1.100,1.150,1.200,1.234 ok=1

secs is until the last one finished (the aggregate rate is bytes/secs); each lists every
reader's own time, to show whether they shared the link fairly. ok=0 (exit 1) when a reader
failed, or when curl's byte count differs from the file's size given in BENCH_PAR_BYTES.
"""

import os
import subprocess
import sys
import time


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
    else:
        sys.exit(f"parread: unknown mode {mode}")

    t0 = time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE if mode == "curl" else subprocess.DEVNULL)
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
                if mode == "curl":
                    ok &= outs[i].strip() == str(sizes[i]).encode()
        time.sleep(0.005)
    secs = max(ends)
    each = ",".join(f"{e:.3f}" for e in ends)
    print(f"secs={secs:.3f} bytes={sum(sizes)} each={each} ok={int(ok)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
