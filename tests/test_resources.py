"""styles_dir() and data_dir(): in the package when installed, at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

import dispatchdesk
from dispatchdesk import resources

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("func", "name"), [(resources.styles_dir, "styles"), (resources.data_dir, "data")]
)
def test_checkout_directories_resolve(func, name: str) -> None:
    path = func()
    assert path.is_dir()
    assert path.name == name
    # In this checkout nothing is copied into the package, so the top-level one is used.
    if not (Path(dispatchdesk.__file__).resolve().parent / name).is_dir():
        assert path == REPO / name


def test_package_dir_is_the_package() -> None:
    assert resources._PACKAGE_DIR == Path(dispatchdesk.__file__).resolve().parent
    assert (resources._CHECKOUT_DIR / "pyproject.toml").is_file()


@pytest.fixture
def fake_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    package = tmp_path / "site-packages" / "dispatchdesk"
    checkout = tmp_path / "repo"
    package.mkdir(parents=True)
    checkout.mkdir()
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    monkeypatch.setattr(resources, "_CHECKOUT_DIR", checkout)
    return package, checkout


@pytest.mark.parametrize(
    ("func", "name"), [(resources.styles_dir, "styles"), (resources.data_dir, "data")]
)
def test_in_package_copy_wins(fake_layout: tuple[Path, Path], func, name: str) -> None:
    package, checkout = fake_layout
    (package / name).mkdir()
    (checkout / name).mkdir()
    assert func() == package / name


@pytest.mark.parametrize(
    ("func", "name"), [(resources.styles_dir, "styles"), (resources.data_dir, "data")]
)
def test_checkout_copy_when_package_has_none(
    fake_layout: tuple[Path, Path], func, name: str
) -> None:
    package, checkout = fake_layout
    (checkout / name).mkdir()
    assert func() == checkout / name


@pytest.mark.parametrize(
    ("func", "name"), [(resources.styles_dir, "styles"), (resources.data_dir, "data")]
)
def test_neither_exists_is_a_clear_error(fake_layout: tuple[Path, Path], func, name: str) -> None:
    package, checkout = fake_layout
    (package / name).write_text("a file, not a directory")
    with pytest.raises(FileNotFoundError) as info:
        func()
    message = str(info.value)
    assert f"'{name}' directory" in message
    assert str(package / name) in message
    assert str(checkout / name) in message
