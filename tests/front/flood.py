"""An arrival flood, run as its own process: new visitors (no cookies) call the status endpoint
(the join) as fast as `concurrency` connections allow, from many loopback source addresses so the
per-address limits stay on and still let it through. Prints the answer counts as JSON.

    python -m tests.front.flood URL PATH SECONDS CONCURRENCY [PROCESS_NUMBER]
"""

import asyncio
import json
import sys
import time

import aiohttp


async def flood(url: str, path: str, seconds: float, concurrency: int, number: int = 0) -> dict:
    counts: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    addresses = [f"127.{1 + number}.{1 + i // 250}.{1 + i % 250}" for i in range(concurrency)]

    async def one(address: str):
        connector = aiohttp.TCPConnector(limit=1, local_addr=(address, 0))
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as s:
            while time.monotonic() < deadline:
                try:
                    async with s.get(url + path, headers={"Accept": "application/json"}) as response:
                        await response.read()
                        key = str(response.status)
                except (aiohttp.ClientError, TimeoutError) as error:
                    key = type(error).__name__
                counts[key] = counts.get(key, 0) + 1
                if key == "429":
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(one(a) for a in addresses))
    return counts


if __name__ == "__main__":
    url, path, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    number = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    print(json.dumps(asyncio.run(flood(url, path, seconds, concurrency, number))))
