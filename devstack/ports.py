"""Free local ports."""

import socket


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it): each stack gets its own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(count: int, *, first: int = 20_000, last: int = 30_000) -> int:
    """The first of `count` consecutive ports nobody listens on now, for a stack numbered from
    one base port (bench.surge's --port): a fixed base collides with another run on the machine."""
    for base in range(first, last, count):
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise OSError(f"no {count} consecutive free ports in {first}-{last}")
