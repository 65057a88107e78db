"""Slow-body attackers: N connections, each starting a POST with
Content-Length: 10000 and sending one byte every INTERVAL seconds; a
connection the server closes is opened again at once. Loopback only; runs
for DURATION seconds, then prints how many connections it opened and how
many answers of each status it got.

    python3 slow_body.py HOST:PORT PATH N INTERVAL DURATION
"""
import asyncio
import collections
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
path, n, interval, duration = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
end = time.monotonic() + duration
opened = 0
answers = collections.Counter()


async def attacker():
    global opened
    while time.monotonic() < end:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened += 1
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n".encode())
        try:
            while time.monotonic() < end:
                writer.write(b"a")
                await writer.drain()
                try:
                    head = await asyncio.wait_for(reader.read(64), interval)
                except asyncio.TimeoutError:
                    continue
                if head:
                    answers[head.split(b" ")[1].decode(errors="replace") if b" " in head else "?"] += 1
                break
        except (OSError, ConnectionError):
            pass
        writer.close()


async def main():
    await asyncio.gather(*(attacker() for _ in range(n)))


asyncio.run(main())
print(f"opened {opened} connections; answers {dict(answers)}")
