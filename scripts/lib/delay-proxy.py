#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that delays every chunk by D ms in each
direction (a round trip of 2*D), as a relay 10-80 ms away would: the
benchmarks' stand-in for a real network (this kernel has no netem).

    delay-proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
    delay-proxy.py --summary FILE

Order is kept per direction; bytes are never merged or split beyond what
TCP does; each chunk leaves D ms after it arrived (a pipe, not a stop and
wait), so the bandwidth is the loopback's and only the latency is added.
Prints "ready" once listening.

Built on asyncio's protocols and timers (no coroutine, queue or task per
chunk): one timer per burst of chunks, so the proxy itself costs a few
microseconds per chunk and is not what limits a benchmark (the
coroutine version it replaced topped out near 1,000 messages per second
for smtp-source, 4 round trips each, on this 2-core machine).

With DELAY_PROXY_STATS=FILE, each connection appends one line to FILE
when it closes: "turns MAILs bytes_up bytes_down hops lateness": a hop
is a chunk passed on, lateness the seconds they left after their time in
all (negative: early). A turn is the client
speaking again after the server did (or first): one round trip it waited
for. MAILs counts "MAIL FROM:" commands (messages begun), so turns / MAILs
is the round trips per message, set-up and QUIT included.
`delay-proxy.py --summary FILE` prints the totals.
"""
import asyncio
import collections
import os
import socket
import sys

STATS = os.environ.get("DELAY_PROXY_STATS")


class Stats:
    """What one connection carried (see the module's doc)."""

    def __init__(self):
        self.turns = self.mails = self.up = self.down = 0
        self.hops, self.lateness = 0, 0.0
        self.last_up = False
        self.tail = b""

    def saw(self, data, up):
        if up:
            if not self.last_up:
                self.turns += 1
            self.up += len(data)
            # "MAIL FROM:" split across two chunks is counted once.
            seen = (self.tail + data).upper()
            self.mails += seen.count(b"MAIL FROM:")
            self.tail = seen[-9:]
        else:
            self.down += len(data)
        self.last_up = up

    def late(self, seconds):
        self.hops += 1
        self.lateness += seconds

    def write(self):
        with open(STATS, "a") as f:
            f.write(
                f"{self.turns} {self.mails} {self.up} {self.down} {self.hops} {self.lateness:.6f}\n"
            )


class Half(asyncio.Protocol):
    """One side's socket: what it receives goes, D later, to `peer`."""

    def __init__(self, delay, stats, up):
        self.delay, self.stats, self.up = delay, stats, up
        self.loop = asyncio.get_running_loop()
        self.transport = None
        self.peer = None
        # (due, bytes or None for the end of the stream), in arrival order.
        self.pending = collections.deque()
        self.timer = None
        self.closed = False
        self.eof_in = self.eof_out = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        if self.stats is not None:
            self.stats.saw(data, self.up)
        self.later(data)

    def eof_received(self):
        # Half-closed: what the other side still sends comes through. The
        # socket is closed once the end went both ways.
        self.eof_in = True
        self.later(None)
        if self.eof_out:
            self.transport.close()
        return True

    def connection_lost(self, exc):
        if not self.closed:
            self.later(None)
        self.closed = True
        if self.peer is not None and self.peer.closed and self.stats is not None:
            self.stats.write()
            self.stats = None

    def later(self, data):
        self.pending.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            # epoll waits whole milliseconds, rounded up: asked for 1 ms
            # early, a timer fires from 1 ms early to on time.
            self.timer = self.loop.call_at(self.pending[0][0] - 0.001, self.flush)

    def flush(self):
        self.timer = None
        now = self.loop.time()
        peer = self.peer.transport if self.peer else None
        # Within half a millisecond of its time a chunk goes now: the
        # delay is D +- 0.5 ms (plus this machine's scheduling), not D
        # plus up to a millisecond of rounding each way.
        while self.pending and self.pending[0][0] <= now + 0.0005:
            due, data = self.pending.popleft()
            if self.stats is not None:
                self.stats.late(now - due)
            if peer is None or peer.is_closing():
                continue
            if data is None:
                self.peer.eof_out = True
                try:
                    peer.write_eof()
                except (OSError, RuntimeError, NotImplementedError):
                    peer.close()
                if self.peer.eof_in:
                    peer.close()
            else:
                peer.write(data)
        if self.pending:
            self.timer = self.loop.call_at(self.pending[0][0] - 0.0005, self.flush)
        elif self.closed and peer is not None and not peer.is_closing():
            peer.close()

    # Flow control: a peer that cannot keep up stops this side's reads.
    def pause_writing(self):
        if self.peer and self.peer.transport:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer and self.peer.transport and not self.peer.closed:
            self.peer.transport.resume_reading()


async def main():
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = delay_ms / 1000.0
    loop = asyncio.get_running_loop()

    class Client(Half):
        def __init__(self):
            super().__init__(delay, Stats() if STATS else None, True)

        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()
            loop.create_task(self.dial())

        async def dial(self):
            try:
                _, server = await loop.create_connection(
                    lambda: Half(delay, self.stats, False), "127.0.0.1", target
                )
            except OSError:
                self.transport.close()
                return
            server.peer, self.peer = self, server
            self.transport.resume_reading()

    server = await loop.create_server(Client, "127.0.0.1", listen, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def summary(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    turns, mails = sum(r[0] for r in rows), sum(r[1] for r in rows)
    hops, late = sum(r[4] for r in rows), sum(r[5] for r in rows)
    per = f"{turns / mails:.3f}" if mails else "-"
    print(
        f"connections {len(rows)}, round trips {turns:.0f}, messages {mails:.0f}, "
        f"round trips per message {per}, mean lateness per hop "
        f"{late / max(hops, 1) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        asyncio.run(main())
