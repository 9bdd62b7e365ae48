#!/usr/bin/env python3
"""WebSocket load with permessage-deflate offered (Python websockets, asyncio), for make bench.
tokio-tungstenite (examples/ws_load.rs) has no permessage-deflate, so the compression rows use
this client. What the server negotiated is read from each handshake's response.

  ws_deflate.py echo PORT CONNS WARMUP_S DURATION_S
      CONNS clients each send a JSON chat message and wait for its echo, in a loop. Prints
      "start" when the measured window begins (and counts from the next stdin line on) and "stop" when it ended and every client has
      its last echo (bench.py samples the server's CPU time and its connections' byte counters
      at those lines); the clients stay connected until a line arrives on stdin, then close,
      and it prints one JSON line:
      {"msgs": echoes after the window began, "rate": msgs/s, "payload_bytes": message bytes echoed in
       the window, "extensions": the negotiated Sec-WebSocket-Extensions of the first client}
  ws_deflate.py idle PORT CONNS
      CONNS clients connect, each sends one chat message and reads its echo (so that a
      compressor and decompressor have been used), then stay idle. Prints "ready N" and waits
      for a line on stdin; then closes them all and prints the JSON line
      {"extensions": ..., "conns": N}.

Messages: JSON like a chat line ({"type":"message","room":...,"from":...,"text":...,
"time":...,"user":{...}}), 300-700 bytes, different on every send (a seeded generator), so
compression works on realistic text, not on one repeated buffer.
"""

import asyncio
import json
import random
import sys
import time

from websockets.asyncio.client import connect

WORDS = ("the quick brown fox jumps over lazy dog meeting tomorrow at noon please bring "
         "slides coffee release notes build failed again green now merged review thanks "
         "looks good to me deploy staging production rollback latency dashboard alert "
         "customer ticket weekend plans lunch anyone pizza sushi tacos burger").split()
ROOMS = ("general", "random", "engineering", "support", "release-train")


def chat_message(rng: random.Random, seq: int) -> str:
    words = rng.randint(25, 90)
    return json.dumps({
        "type": "message",
        "room": rng.choice(ROOMS),
        "from": rng.randint(1, 50000),
        "seq": seq,
        "time": 1764547200 + seq,
        "text": " ".join(rng.choice(WORDS) for _ in range(words)),
        "user": {"name": f"user{rng.randint(1, 999)}", "status": rng.choice(["online", "away"]),
                 "avatar": f"https://cdn.example.test/avatars/{rng.randint(1, 99999)}.png"},
    }, separators=(",", ":"))


def extensions_of(ws) -> str:
    return ws.response.headers.get("Sec-WebSocket-Extensions", "")


async def echo(port: int, conns: int, warmup: float, duration: float) -> None:
    url = f"ws://127.0.0.1:{port}/ws"
    clients = [await connect(url, compression="deflate", max_size=2**20, open_timeout=30)
               for _ in range(conns)]
    t0 = time.monotonic() + warmup
    t1 = t0 + duration
    counted = [0, 0]  # messages, payload bytes echoed once counting began
    counting, began = [False], [t0]

    async def one(ws, seed):
        rng = random.Random(seed)
        seq = 0
        while time.monotonic() < t1:
            msg = chat_message(rng, seq)
            seq += 1
            await ws.send(msg)
            back = await ws.recv()
            if back != msg:
                raise RuntimeError("echo differs")
            if counting[0]:  # till the end: the last round trips end after t1
                counted[0] += 1
                counted[1] += len(msg)

    async def start_mark():
        await asyncio.sleep(max(0, t0 - time.monotonic()))
        print("start", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        counting[0] = True  # bench.py has read the counters: count from here
        began[0] = time.monotonic()

    await asyncio.gather(start_mark(), *(one(ws, i) for i, ws in enumerate(clients)))
    print("stop", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    ext = extensions_of(clients[0])
    for ws in clients:
        await ws.close()
    print(json.dumps({"msgs": counted[0], "rate": counted[0] / (t1 - began[0]),
                      "payload_bytes": counted[1], "extensions": ext}), flush=True)


async def idle(port: int, conns: int) -> None:
    url = f"ws://127.0.0.1:{port}/ws"
    clients = []
    rng = random.Random(1)
    for i in range(0, conns, 100):  # 100 handshakes at a time
        batch = await asyncio.gather(*(connect(url, compression="deflate", open_timeout=60,
                                               ping_interval=None)
                                       for _ in range(min(100, conns - i))))
        clients.extend(batch)
    for i, ws in enumerate(clients):
        msg = chat_message(rng, i)
        await ws.send(msg)
        if await ws.recv() != msg:
            raise RuntimeError("echo differs")
    print(f"ready {len(clients)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    ext = extensions_of(clients[0])
    await asyncio.gather(*(ws.close() for ws in clients))
    print(json.dumps({"extensions": ext, "conns": len(clients)}), flush=True)


def main() -> int:
    mode, port, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "echo":
        asyncio.run(echo(port, conns, float(sys.argv[4]), float(sys.argv[5])))
    elif mode == "idle":
        asyncio.run(idle(port, conns))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
