"""Test-only network stand-ins for the process fault tests: a mail server that can hang in the
middle of a message, and a TCP forwarder in front of PostgreSQL that can be cut and restored."""

import email
import select
import socket
import socketserver
import threading
from pathlib import Path

from devstack.ports import free_port


class SmtpSink:
    """Just enough SMTP (no TLS, no auth) for Django's SMTP backend. A message counts as delivered
    only once the server answered 250 to its DATA, as with a real server. With `hang_next` set, the
    next message is read to its end and then never answered: `hanging` is set, and the session
    waits until the client goes away (its socket closed, e.g. the process killed)."""

    def __init__(self):
        self.port = free_port()
        self.delivered: list[bytes] = []
        self.hang_next = threading.Event()
        self.hanging = threading.Event()
        sink = self

        class Session(socketserver.StreamRequestHandler):
            timeout = 60

            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 sink ESMTP")
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb == b"QUIT":
                        self.reply("221 bye")
                        return
                    if verb == b"DATA":
                        self.reply("354 go ahead")
                        message = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                        if sink.hang_next.is_set():
                            sink.hang_next.clear()
                            sink.hanging.set()
                            while self.rfile.readline():  # no answer; until the client is gone
                                pass
                            return
                        sink.delivered.append(message)
                        self.reply("250 queued")
                    else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Session)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SmtpSink":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self) -> dict[str, str]:
        """What a product process needs to send its mail here."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "false",
        }


class TcpForwarder:
    """127.0.0.1:<port> forwarded to a target port. `stop` closes the listening socket and every
    live connection (what a client sees when the database host goes away: its connections cut,
    new ones refused); `start` listens on the same port again."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.live: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        self.stopping.clear()
        self.thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.live:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.live.clear()

    def _accept(self, listener: socket.socket) -> None:
        while not self.stopping.is_set():
            ready, _, _ = select.select([listener], [], [], 0.1)
            if not ready:
                continue
            client, _ = listener.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.live.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            with self.lock:
                self.live.discard(source)
                self.live.discard(sink)


def mails(folder: Path) -> list[email.message.Message]:
    """The emails Django's file backend wrote into `folder`."""
    if not folder.exists():
        return []
    chunks = [c for p in folder.iterdir() for c in p.read_text().split("\n" + "-" * 79 + "\n") if c.strip()]
    return [email.message_from_string(c) for c in chunks]
