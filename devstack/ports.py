"""Free local ports."""

import socket


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it): each stack gets its own."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
