"""PgBouncer (Debian's) in transaction mode in front of PostgreSQL, on a free loopback port: the
pooler the scale-out topology puts between every web node and worker and the one primary
(docs/scale-out.md)."""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from devstack.ports import free_port
from devstack.waits import wait_for

PGBOUNCER = "/usr/sbin/pgbouncer"
# PgBouncer refuses to run as root: as root (CI's machines), it runs as PostgreSQL's own user.
RUN_AS = "postgres"


class PgBouncer:
    """`pool_size` server connections per database and user, shared by up to `max_clients`
    clients; trust auth on loopback, as the machine's PostgreSQL."""

    def __init__(
        self,
        data_dir: Path,
        *,
        upstream_host: str = "127.0.0.1",
        upstream_port: int = 5432,
        port: int | None = None,
        pool_size: int = 20,
        max_clients: int = 1000,
    ):
        self.data_dir = data_dir
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            # A directory that user can reach (a test's tmp_path lies under root's private one).
            self.data_dir = Path(tempfile.mkdtemp(prefix="surge-pgbouncer-"))
            account = pwd.getpwnam(RUN_AS)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
            self.as_user = ["-u", RUN_AS]  # pgbouncer switches user itself: signals reach it
        self.port = port or free_port()
        self.upstream = (upstream_host, upstream_port)
        self.pool_size, self.max_clients = pool_size, max_clients
        self.proc: subprocess.Popen | None = None

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        users = self.data_dir / "userlist.txt"
        users.write_text('"postgres" ""\n')
        ini = self.data_dir / "pgbouncer.ini"
        host, port = self.upstream
        ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host={host} port={port}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    f"unix_socket_dir = {self.data_dir}",
                    "auth_type = trust",
                    f"auth_file = {users}",
                    "pool_mode = transaction",
                    f"default_pool_size = {self.pool_size}",
                    f"max_client_conn = {self.max_clients}",
                    # What psycopg and Django send at connect that PgBouncer need not pass on.
                    "ignore_startup_parameters = extra_float_digits,options",
                    "server_reset_query =",
                    f"logfile = {self.data_dir / 'pgbouncer.log'}",
                    f"pidfile = {self.data_dir / 'pgbouncer.pid'}",
                    "",
                ]
            )
        )
        return ini

    def start(self, timeout: float = 20) -> "PgBouncer":
        ini = self.write_config()
        self.proc = subprocess.Popen(
            [PGBOUNCER, *self.as_user, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_for(self.answers, timeout=timeout, interval=0.1, what=f"pgbouncer on {self.port}", process=self.proc)
        return self

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=1, prepare_threshold=None) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def restart(self) -> None:
        """Stopped at once (clients' connections cut, as a crash or a redeploy), then started
        again on the same port."""
        self.stop(signal.SIGINT)  # SIGINT: immediate shutdown
        self.start()

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.as_user:
            shutil.rmtree(self.data_dir, ignore_errors=True)
