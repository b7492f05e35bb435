"""The clock the line and its limits run on: wall-clock milliseconds, the unit of every score
and deadline kept in Redis (the Lua scripts take `now` as an argument, never read Redis' own)."""

import time


def now_ms() -> int:
    return int(time.time() * 1000)
