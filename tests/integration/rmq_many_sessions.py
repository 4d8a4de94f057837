#!/usr/bin/python3
"""Opens N WebSocket sessions (default 1000) on one RabbitMQ-backed tenbusd
and shows what the broker sees: one queue and one binding per distinct
subscribed name for the node, whatever N. Not a pytest test (slow-ish);
run by hand with a broker up:

    TENBUSD=build/tenbusd /usr/bin/python3 tests/integration/rmq_many_sessions.py [N]
"""

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid

import websockets

import tenbus_harness as th

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
NAMES = ["evt_%d" % i for i in range(5)]


def ctl(*args):
    return subprocess.run(["rabbitmqctl", "-q"] + list(args), capture_output=True, text=True,
                          check=True).stdout


async def open_sessions(d, toks):
    async def one(i, tok):
        ws = await websockets.connect(d.ws_url(tok, 2), max_size=None, compression=None)
        await ws.recv()                                        # init
        for name in ("*", NAMES[i % len(NAMES)]):
            await ws.send(json.dumps({"op": "subscribe", "data": {"event_name": name}}))
            await ws.recv()
        await ws.send(json.dumps({"op": "start"}))
        await ws.recv()
        return ws
    sem = asyncio.Semaphore(100)

    async def limited(i, tok):
        async with sem:
            return await one(i, tok)
    return await asyncio.gather(*(limited(i, t) for i, t in enumerate(toks)))


async def main():
    exchange = "wazo-headers-many-" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        d = th.Daemon(tmp, workers=2, bus={"host": "127.0.0.1", "exchange_name": exchange})
        tenant = th.new_uuid()
        toks = [d.token(tenant=tenant) for _ in range(N)]
        d.start()
        th.wait_for(lambda: d.get("/status")[1]["bus"]["connected"], timeout=15)
        t0 = time.monotonic()
        wss = await open_sessions(d, toks)
        print("%d sessions opened in %.1fs" % (len(wss), time.monotonic() - t0))
        time.sleep(1)
        print("$ rabbitmqctl list_queues name messages consumers exclusive auto_delete")
        queues = ctl("list_queues", "name", "messages", "consumers", "exclusive", "auto_delete")
        print(queues)
        print("$ rabbitmqctl list_bindings source_name destination_name arguments  (source %s)"
              % exchange)
        for line in ctl("list_bindings", "source_name", "destination_name", "arguments").splitlines():
            if line.startswith(exchange):
                print(line)
        # One tenant event reaches every session once.
        d.publish(th.ev_tenant(tenant, name=NAMES[0]))
        t0 = time.monotonic()
        got = await asyncio.gather(*(ws.recv() for ws in wss))
        print("one tenant event -> %d frames in %.3fs" % (len(got), time.monotonic() - t0))
        for ws in wss:
            await ws.close()
        d.stop()


if __name__ == "__main__":
    asyncio.run(main())
