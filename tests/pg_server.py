"""A throw-away PostgreSQL server for tests: initdb + pg_ctl into a temporary folder, loopback only.

Debian's ``postgresql`` package (installed by ``.ci/run``) provides the binaries. PostgreSQL refuses
to run as root, so under root the server runs as the ``postgres`` system user the package creates.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[dict]:
    """Start a server; yield ``{host, port, user, database}``; stop it and remove its files."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    root = tempfile.mkdtemp(prefix="evaltool_pg_")
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run(prefix + [initdb, "-D", data, "-A", "trust", "-U", "evaltool", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, env=env, timeout=120)
        opts = f"-F -p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(prefix + [pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w", "start"],
                       check=True, capture_output=True, env=env, timeout=120)
        yield {"host": "127.0.0.1", "port": port, "user": "evaltool", "database": "postgres"}
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run(prefix + [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True,
                           env=env, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
