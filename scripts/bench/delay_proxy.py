#!/usr/bin/env python3
"""A TCP proxy that adds latency: a link with a round-trip time, for scripts/bench.sh --rtt.

    delay_proxy.py --rtt MS --listen 127.0.0.1 --target 127.0.0.2 --ports 2121,30000-30200

Listens on LISTEN at every port given and forwards each connection to the same port on TARGET.
Every chunk of bytes is delivered MS/2 milliseconds after it arrived, in both directions, so a
request and its answer cost MS milliseconds more; chunks are not held back behind each other
(a chunk that arrives while another waits leaves MS/2 after its own arrival), as on a real link,
whose latency does not add up per packet.

Each direction of a connection has a thread that reads and a thread that delivers. The delivering
thread sleeps with time.sleep (clock_nanosleep: late by tens of microseconds), not in an event
loop whose timers round up to the millisecond: with asyncio every chunk came 0.5 to 1.5 ms late,
a round trip cost 22.3 ms instead of 20, and every latency-bound row measured the proxy.

Each direction starts like a new TCP connection, in slow start: bytes read from the sender but
not yet acknowledged (an acknowledgement comes back a whole round trip after the bytes arrived)
are at most a congestion window, which starts at ten segments (RFC 6928, Linux's default) and
grows by every byte acknowledged. Without that, a server that writes a whole file into a new data
connection (an FTP server answering REST+RETR for a 4 KiB read) would have megabytes copied through
the proxy in the first round trip, which no real link carries. After a few dozen round trips the
window no longer limits: --window caps it (default: no cap), and throughput is what the proxy's
threads copy. This models latency, not bandwidth (bench.sh --link does that).

The FTP server must announce LISTEN in its passive replies, with its passive ports among PORTS,
so that data connections go through the proxy too. Runs until killed; prints "ready" once every
port listens.
"""

import argparse
import collections
import fcntl
import os
import queue
import resource
import selectors
import socket
import struct
import sys
import threading
import time

INITIAL_WINDOW = 10 * 1448
CHUNK = 1 << 20
# Pipes in flight in one direction of one connection, at most. A chunk is whatever one splice
# took, so a fast flow may have thousands in flight over 10 ms; unbounded, a run with many
# connections at once (rclone's parallel readers) ran out of descriptors and the proxy died
# (EMFILE). 256 chunks in 10 ms still carry several GB/s of the chunk sizes splice takes here.
PIPES_IN_FLIGHT = 256
F_SETPIPE_SZ = 1031


def ports(spec):
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


class Window:
    """The congestion window of one direction: what may be read before acknowledgements come."""

    def __init__(self, rtt, cap):
        self.rtt, self.cap = rtt, cap
        self.cwnd = INITIAL_WINDOW
        self.unacked = collections.deque()  # (time the ack comes, bytes)
        self.inflight = 0

    def room(self):
        """Bytes that may be read now; sleeps until an acknowledgement when there are none."""
        while True:
            now = time.monotonic()
            while self.unacked and self.unacked[0][0] <= now:
                _, n = self.unacked.popleft()
                self.inflight -= n
                self.cwnd += n
                if self.cap:
                    self.cwnd = min(self.cwnd, self.cap)
            room = self.cwnd - self.inflight
            if room > 0:
                return room
            time.sleep(max(self.unacked[0][0] - now, 0))

    def sent(self, at, n):
        self.inflight += n
        self.unacked.append((at + self.rtt, n))


class Link:
    """One proxied connection: its two sockets, and whether it was reset."""

    def __init__(self, client, server):
        self.socks = (client, server)
        self.reset = threading.Event()

    def break_off(self):
        """One side is gone (a reset, or a write that failed): the other side must see a
        reset too, as over a real link, not an orderly end. An FTP server writing a file into
        a data connection the client closed goes on until the whole file is sent unless it is
        reset, and only then answers 426 on the control connection. Both readers are woken;
        serve() closes the sockets with a zero linger, which sends the reset."""
        self.reset.set()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RD)
            except OSError:
                pass


class Pipes:
    """Pipes that hold the chunks in flight: os.splice moves bytes from a socket into a pipe and
    out into the other socket without copying them through Python. With recv and sendall the
    proxy spent more CPU than the client under test on a bulk transfer, on a machine of two
    cores, and capped throughput at about 200 MB/s."""

    def __init__(self):
        self.free = []
        self.room = threading.Semaphore(PIPES_IN_FLIGHT)

    def take(self, link):
        """A pipe, once fewer than PIPES_IN_FLIGHT are out; None if the link broke meanwhile."""
        while not self.room.acquire(timeout=0.1):
            if link.reset.is_set():
                return None
        if self.free:
            return self.free.pop()
        r, w = os.pipe()
        fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
        return r, w

    def give(self, pipe):
        self.free.append(pipe)
        self.room.release()

    def close(self):
        for r, w in self.free:
            os.close(r)
            os.close(w)


def pump(link, src, dst, delay, cap):
    """Copies src to dst, each chunk delay seconds after it arrived (two threads)."""
    chunks = queue.SimpleQueue()
    window = Window(2 * delay, cap)
    pipes = Pipes()

    def deliver():
        try:
            while True:
                at, pipe, n = chunks.get()
                wait = at + delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if pipe is None:
                    if n is RESET:
                        link.break_off()
                    else:
                        # The sender's end of stream, passed on when it arrives, as a link would.
                        dst.shutdown(socket.SHUT_WR)
                    return
                while n:
                    n -= os.splice(pipe[0], dst.fileno(), n)
                pipes.give(pipe)
        except OSError:
            link.break_off()

    sender = threading.Thread(target=deliver, daemon=True)
    sender.start()
    end = None
    try:
        while not link.reset.is_set():
            room = min(window.room(), CHUNK)
            pipe = pipes.take(link)
            if pipe is None:
                break
            n = os.splice(src.fileno(), pipe[1], room)
            if not n:
                pipes.give(pipe)
                break
            now = time.monotonic()
            window.sent(now, n)
            chunks.put((now, pipe, n))
    except OSError:
        end = RESET
    chunks.put((time.monotonic(), None, end))
    sender.join()
    while not chunks.empty():  # what a reset left undelivered
        _, pipe, _ = chunks.get()
        if pipe is not None:
            pipes.give(pipe)
    pipes.close()


RESET = object()


def no_delay(sock):
    """Sends each chunk when its time comes. With Nagle's algorithm on, a chunk due while the
    one before is unacknowledged would wait for that ACK (and for the peer's delayed ACK): one
    more round trip that no link adds, paid exactly where a client sends commands together and
    the server answers them one by one."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def serve(client, target, port, delay, cap):
    try:
        server = socket.create_connection((target, port), timeout=10)
        server.settimeout(None)
    except OSError:
        client.close()
        return
    for s in (client, server):
        no_delay(s)
    link = Link(client, server)
    there = threading.Thread(target=pump, args=(link, client, server, delay, cap), daemon=True)
    there.start()
    pump(link, server, client, delay, cap)
    there.join()
    for s in (client, server):
        if link.reset.is_set():
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtt", type=float, required=True, help="round-trip time added, ms")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--target", default="127.0.0.2")
    ap.add_argument("--ports", required=True, help="e.g. 2121,30000-30200")
    ap.add_argument("--window", type=int, default=0, help="largest window, bytes (0: no cap)")
    a = ap.parse_args()
    delay = a.rtt / 2000.0
    sel = selectors.DefaultSelector()
    for p in ports(a.ports):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.listen, p))
        ls.listen(128)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, p)
    # Each connection holds two sockets and its pipes in flight: as many descriptors as allowed.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            try:
                client, _ = key.fileobj.accept()
            except BlockingIOError:
                continue
            except OSError as e:
                # Out of descriptors: the connection waits in the backlog until some are free,
                # as a busy server's would; the proxy goes on.
                print(f"accept: {e}", file=sys.stderr, flush=True)
                time.sleep(0.05)
                continue
            client.setblocking(True)
            args = (client, a.target, key.data, delay, a.window)
            threading.Thread(target=serve, args=args, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
