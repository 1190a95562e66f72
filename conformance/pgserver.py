"""A throwaway PostgreSQL server for the tests that need a real one (sessions, cron lock).

``postgres_server(db)`` is a context manager: it starts Debian's PostgreSQL on 127.0.0.1 on a
free port, with trust authentication and its socket in a private temporary directory, creates
database ``db`` and yields ``{"port", "bindir", "data", "url"}``; it stops the server at the
end whatever happens. It skips the calling test or module when the server binaries are not
installed. ``psql(pg, sql, db)`` runs one statement and returns its unaligned output.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile

import pytest

from berth import free_port


def pg_bin() -> str | None:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        for path in sorted(glob.glob(pattern), reverse=True):
            if all(os.access(os.path.join(path, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
                return path
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres account.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres_server(db: str):
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(install the Debian package 'postgresql')")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: can't start PostgreSQL as 'postgres'")
    tmp = tempfile.mkdtemp(prefix="berth-pg-")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    data = os.path.join(tmp, "data")
    log = os.path.join(tmp, "postgres.log")
    port = free_port()
    run = lambda cmd, **kw: subprocess.run(as_postgres(cmd), capture_output=True, text=True,
                                           timeout=60, **kw)
    started = False
    try:
        r = run([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--no-sync"])
        assert r.returncode == 0, f"initdb failed:\n{r.stdout}\n{r.stderr}"
        opts = f"-F -p {port} -k {tmp} -c listen_addresses=127.0.0.1"
        r = run([f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", log, "-w", "-t", "30", "start"])
        started = True
        assert r.returncode == 0, f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n" + (
            open(log).read() if os.path.exists(log) else "")
        r = run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db])
        assert r.returncode == 0, f"createdb failed:\n{r.stderr}"
        yield {"port": port, "bindir": bindir, "data": data,
               "url": f"postgresql://postgres@127.0.0.1:{port}/{db}"}
    finally:
        if started:
            run([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"])
        shutil.rmtree(tmp, ignore_errors=True)


def psql(pg, sql: str, db: str) -> str:
    r = subprocess.run(as_postgres([f"{pg['bindir']}/psql", "-h", "127.0.0.1", "-p",
                                    str(pg["port"]), "-U", "postgres", "-d", db, "-tAc", sql]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()
