#!/usr/bin/env python3
"""bench.sh's mkdir, rmdir and unlink rows for raw FTP and the mounts, timed interleaved.

    meta_rows.py [--wait T] [--chunk K] HOST PORT USER ROW N
                 [--raw FTPDIR SERVERDIR] [--mount LABEL MNTDIR SERVERDIR]...
                 (password in FTP_PASSWORD)

ROW is mkdir (N directories dNNNN), rmdir (the same N again) or unlink (every file in each
tool's SERVERDIR, N ignored). Each tool works in its own folder: raw is one ftplib connection
sending MKD, RMD or DELE for FTPDIR/NAME; a mount gets os.mkdir, os.rmdir or os.unlink of
MNTDIR/NAME. SERVERDIR is that folder on the server's disk. Before an unlink loop, each mount's
names are looked up once, untimed.

Why interleaved: the same loops run one after another measured the server's disk as much as the
tools (its pace moves by 2x from one minute to the next, docs/performance.md). Here the work is
cut into chunks of K operations, and each chunk is done by every tool in turn, the first tool
rotating from chunk to chunk, so that every tool meets the same server. A tool's time for a chunk
runs until the server's disk shows each of the chunk's names made or gone (checked for every
tool alike, so a mount that answers before the server has done it is timed until it has).

Prints one line per tool, `tool=LABEL secs=1.234 ops=1000 ok=1`, raw's label being `raw`, then
one per tool with its microseconds per operation chunk by chunk (`chunks LABEL: us/op 52 48 ...`,
to tell a steady pace from a few slow chunks), and exits 1 if a tool's chunk did not show on the
server's disk within --wait seconds.
"""

import argparse
import ftplib
import os
import sys
import time
from collections import namedtuple

# op: does the row's operation on a name; mnt: the mount's directory, None for raw.
Tool = namedtuple("Tool", "label op server names mnt")


def names_for(row, n, server):
    if row == "unlink":
        return sorted(os.listdir(server))
    return [f"d{i:04d}" for i in range(n)]


def landed(row, server, names, limit):
    """Waits until the server's disk shows the chunk done; False after `limit` seconds."""
    if row == "mkdir":
        def done(p):
            return os.path.isdir(p)
    else:
        def done(p):
            return not os.path.lexists(p)
    paths = [os.path.join(server, n) for n in names]
    end = time.monotonic() + limit
    while True:
        paths = [p for p in paths if not done(p)]
        if not paths:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.002)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wait", type=float, default=60.0)
    ap.add_argument("--chunk", type=int, default=100)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("row", choices=["mkdir", "rmdir", "unlink"])
    ap.add_argument("n", type=int)
    ap.add_argument("--raw", nargs=2, metavar=("FTPDIR", "SERVERDIR"))
    ap.add_argument("--mount", nargs=3, action="append", default=[],
                    metavar=("LABEL", "MNTDIR", "SERVERDIR"))
    a = ap.parse_args()

    ops = {"mkdir": os.mkdir, "rmdir": os.rmdir, "unlink": os.unlink}[a.row]
    tools = []
    if a.raw:
        ftp = ftplib.FTP()
        ftp.connect(a.host, a.port, timeout=60)
        ftp.login(a.user, os.environ.get("FTP_PASSWORD", ""))
        cmd = {"mkdir": ftp.mkd, "rmdir": ftp.rmd, "unlink": ftp.delete}[a.row]
        ftp_dir = a.raw[0]
        tools.append(Tool("raw", lambda n: cmd(f"{ftp_dir}/{n}"), a.raw[1],
                          names_for(a.row, a.n, a.raw[1]), None))
    for label, mnt, server in a.mount:
        tools.append(Tool(label, lambda n, mnt=mnt: ops(os.path.join(mnt, n)), server,
                          names_for(a.row, a.n, server), mnt))
    if not tools:
        ap.error("no tool: give --raw or --mount")

    if a.row == "unlink":
        # Each mount knows its files already (ftpfs made them; the floor listed them when it
        # started), but the kernel may not: one untimed stat each, so that the timed loop
        # measures the unlinks, not first lookups the floor's mount never had.
        for tool in tools:
            if tool.mnt:
                for n in tool.names:
                    os.lstat(os.path.join(tool.mnt, n))
    secs = [0.0] * len(tools)
    per_chunk = [[] for _ in tools]  # us per operation, chunk by chunk
    done = [0] * len(tools)
    ok = [True] * len(tools)
    longest = max(len(tool.names) for tool in tools)
    os.sync()  # nothing of earlier work left for the server's disk to write back
    for c, start in enumerate(range(0, longest, a.chunk)):
        for k in range(len(tools)):
            t = (c + k) % len(tools)
            tool = tools[t]
            chunk = tool.names[start:start + a.chunk]
            if not chunk or not ok[t]:
                continue
            t0 = time.perf_counter()
            for n in chunk:
                tool.op(n)
            ok[t] = landed(a.row, tool.server, chunk, a.wait)
            took = time.perf_counter() - t0
            secs[t] += took
            per_chunk[t].append(took / len(chunk) * 1e6)
            done[t] += len(chunk)
    if a.raw:
        ftp.quit()
    for t, tool in enumerate(tools):
        print(f"tool={tool.label} secs={secs[t]:.6f} ops={done[t]} ok={int(ok[t])}")
    for t, tool in enumerate(tools):
        print(f"chunks {tool.label}: us/op " + " ".join(f"{us:.0f}" for us in per_chunk[t]))
    return 0 if all(ok) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ftplib.all_errors as e:  # OSError among them
        print(f"meta_rows: {e}", file=sys.stderr)
        sys.exit(1)
