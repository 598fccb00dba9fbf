"""Two depots linked the way the README says: `dispatchdesk partner add … --url … --secret …` on
each side, then `dispatchdesk relay --listen HOST:PORT` for each, as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
from linkkit import SECRET, eventually, free_port, make_order, open_depot, order_row

from dispatchdesk.cli import main
from dispatchdesk.services import dispatch, trash
from helpers import wait_for

CLI = "import sys; from dispatchdesk.cli import main; raise SystemExit(main())"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)


def _relay(db: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CLI, "relay", "--db", str(db), "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def _healthy(port: int) -> None:
    async def up() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(None, up, f"a relay answering on port {port}")


async def test_two_depots_linked_with_the_command_line(tmp_path: Path) -> None:
    a_db, b_db = tmp_path / "a.db", tmp_path / "b.db"
    a_port, b_port = free_port(), free_port()
    for db in (a_db, b_db):
        assert _cli("init", "--db", str(db)).returncode == 0
    r = _cli("partner", "add", "Bravo Haulage", "--db", str(a_db), "--role", "subcontractor",
             "--url", f"http://127.0.0.1:{b_port}/link", "--secret", SECRET, "--rejection-maps-to", "created")
    assert r.returncode == 0, r.stderr
    r = _cli("partner", "add", "Alpha Depot", "--db", str(b_db), "--role", "client",
             "--url", f"http://127.0.0.1:{a_port}/link", "--secret", SECRET, "--auto-trash")
    assert r.returncode == 0, r.stderr

    relays = [_relay(a_db, a_port), _relay(b_db, b_port)]
    a, b = open_depot(a_db), open_depot(b_db)
    try:
        await _healthy(a_port)
        await _healthy(b_port)
        from dispatchdesk.services import set_setting

        set_setting(b, "undo_seconds", "0")
        number = make_order(a)
        dispatch(a, number, "Bravo Haulage")
        theirs = (await eventually(lambda: order_row(b, partner_ref=number), what="B to receive it")).number
        trash(b, theirs)
        row = await eventually(lambda: (r := order_row(a, number=number)).status == "created" and r,
                               what="A's shipment back in Created (its setting for Bravo)")
        assert row.assignee is None
    finally:
        for p in relays:
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 20) for p in relays]
        a.close()
        b.close()
    assert codes == [0, 0], [p.stdout.read() if p.stdout else "" for p in relays]


def test_a_busy_listen_address_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["init", "--db", str(tmp_path / "x.db")]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["relay", "--db", str(tmp_path / "x.db"), "--listen", f"127.0.0.1:{port}"])
    assert code == 1
    assert "already in use" in capsys.readouterr().err
