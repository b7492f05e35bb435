"""Slow clients (slowloris) against the real front: nginx buffers requests, gunicorn listens on
loopback behind it, so 200 sockets dribbling their headers hold nginx connections, never the
lanes' threads. Before the front, 64 such sockets made /healthz time out for 60 s."""

import socket
import time

import pytest

from tests.front.test_front import client_from

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_slow_clients_do_not_take_the_site_down(lanes):
    """200 sockets that send their headers one line every few seconds (slowloris) hold nginx
    connections, never gunicorn threads: /healthz through the front keeps a p99 under 1 s."""
    host, port = lanes.url.removeprefix("http://").split(":")
    sockets = []
    for i in range(200):
        sock = socket.create_connection((host, int(port)), source_address=(f"127.0.7.{1 + i % 200}", 0))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    latencies = []
    try:
        with client_from("127.0.7.250") as http:
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                for sock in sockets[:50]:
                    try:
                        sock.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
                began = time.monotonic()
                assert http.get(f"{lanes.url}/healthz").status_code == 200
                latencies.append(time.monotonic() - began)
                time.sleep(0.05)
    finally:
        for sock in sockets:
            sock.close()
    latencies.sort()
    assert latencies[int(len(latencies) * 0.99) - 1] < 1.0
