"""Fixtures shared by the services' tests: the demo depot built once per file (copied for each
test that changes it) and a fresh depot with the demo's partners, both at the demo's fixed time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dispatchdesk.demo import DEMO_EPOCH, add_demo_partners, build_demo
from dispatchdesk.services import Depot


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """The demo depot built at its fixed time, once for this file. Copy it to change it."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    d = Depot.open(path, actor="demo")
    build_demo(d, now=DEMO_EPOCH)
    d.close()
    return path


@pytest.fixture
def demo(demo_db, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_db, path)
    d = Depot.open(path, actor="tester")
    d.clock = lambda: DEMO_EPOCH
    yield d
    d.close()


@pytest.fixture
def fresh(tmp_path):
    d = Depot.open(tmp_path / "fresh.db", actor="tester")
    d.clock = lambda: DEMO_EPOCH
    add_demo_partners(d)
    yield d
    d.close()
