#!/usr/bin/env python3
"""A TCP proxy that adds latency: a link with a round-trip time, for scripts/bench.sh --rtt.

    delay_proxy.py --rtt MS --listen 127.0.0.1 --target 127.0.0.2 --ports 2121,30000-30200

Listens on LISTEN at every port given and forwards each connection to the same port on TARGET.
Every chunk of bytes is delivered MS/2 milliseconds after it arrived, in both directions, so a
request and its answer cost MS milliseconds more; chunks are not held back behind each other
(a chunk that arrives while another waits leaves MS/2 after its own arrival), as on a real link,
whose latency does not add up per packet. Throughput is what one Python thread copies: this
models latency, not bandwidth (bench.sh --link does that).

The FTP server must announce LISTEN in its passive replies, with its passive ports among PORTS,
so that data connections go through the proxy too. Runs until killed; prints "ready" once every
port listens.
"""

import argparse
import asyncio
import socket
import sys


def ports(spec):
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk delay seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def deliver():
        try:
            while True:
                at, chunk = await queue.get()
                if chunk is None:
                    break
                wait = at + delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except (ConnectionError, OSError):
                pass

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            queue.put_nowait((loop.time(), chunk))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((loop.time(), None))
    await sender


def no_delay(writer):
    """Sends each chunk when its time comes. With Nagle's algorithm on, a chunk due while the
    one before is unacknowledged would wait for that ACK (and for the peer's delayed ACK): one
    more round trip that no link adds, paid exactly where a client sends commands together and
    the server answers them one by one."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def handler(target, port, delay):
    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(target, port)
        except OSError:
            client_w.close()
            return
        no_delay(client_w)
        no_delay(server_w)
        await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay))

    return handle


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtt", type=float, required=True, help="round-trip time added, ms")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--target", default="127.0.0.2")
    ap.add_argument("--ports", required=True, help="e.g. 2121,30000-30200")
    a = ap.parse_args()
    delay = a.rtt / 2000.0
    for p in ports(a.ports):
        await asyncio.start_server(handler(a.target, p, delay), a.listen, p, backlog=128)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
