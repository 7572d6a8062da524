#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that delays every chunk by D ms in each
direction (a round trip of 2*D), as a relay 10-80 ms away would: the
benchmarks' stand-in for a real network (this kernel has no netem).

    delay-proxy.py LISTEN_PORT TARGET_PORT DELAY_MS

Order is kept per direction; bytes are never merged or split beyond what
TCP does; each chunk leaves D ms after it arrived (a pipe, not a stop and
wait), so the bandwidth is the loopback's and only the latency is added.
Prints "ready" once listening.
"""
import asyncio
import socket
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await reader.read(65536)
            await queue.put((loop.time() + delay, data or None))
            if not data:
                break
        await task
    except (ConnectionError, OSError):
        task.cancel()
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def handle(client_r, client_w, target, delay):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_w.close()
        return
    for w in (client_w, server_w):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await asyncio.gather(
        pump(client_r, server_w, delay),
        pump(server_r, client_w, delay),
        return_exceptions=True,
    )


async def main():
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = delay_ms / 1000.0
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, target, delay), "127.0.0.1", listen, backlog=1024
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
