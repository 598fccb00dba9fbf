"""The sanitiser for text that came from outside (SPEC 5: literal, never markup or controls)."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from dispatchdesk.text import ELLIPSIS, clean, literal

BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def forbidden(ch: str, *, single_line: bool = False) -> bool:
    """A character that clean() must never let through."""
    cp = ord(ch)
    if ch in "\n\t":
        return single_line
    return (
        cp < 0x20
        or cp == 0x7F
        or 0x80 <= cp <= 0x9F
        or ch in BIDI
        or ch in "\u2028\u2029\u200b\ufeff"
        or 0xD800 <= cp <= 0xDFFF
    )


# ----------------------------------------------------------------------------- concrete cases


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("\x1b[31mred\x1b[0m text", "red text", id="colour-sgr"),
        pytest.param("\x1b[1;38;5;196mbold\x1b[m", "bold", id="sgr-256-colours"),
        pytest.param("before\x1b[2Jafter", "beforeafter", id="clear-screen"),
        pytest.param("\x1b[H\x1b[2J\x1b[3Jx", "x", id="home-and-clear"),
        pytest.param("\x1b[?1049hx\x1b[?1049l", "x", id="private-mode-alt-screen"),
        pytest.param("\x1b]0;pwned\x07Acme", "Acme", id="osc-title-bel"),
        pytest.param("\x1b]0;pwned\x1b\\Acme", "Acme", id="osc-title-esc-backslash"),
        pytest.param(
            "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\", "click", id="osc-8-hyperlink"
        ),
        pytest.param("\x1b]52;c;cm0gLXJmIH4=\x07x", "x", id="osc-52-clipboard"),
        pytest.param("\x1b]0;pwned", "", id="osc-unterminated-runs-to-end"),
        pytest.param("\x1b]0;t\x1b[1mB", "B", id="osc-cut-short-by-next-escape"),
        pytest.param("\x1bPq#0;2;0;0;0\x1b\\ok", "ok", id="dcs-sixel"),
        pytest.param("\x1bXsos string\x1b\\ok", "ok", id="sos"),
        pytest.param("\x1b^privacy message\x1b\\ok", "ok", id="pm"),
        pytest.param("\x1b_application command\x1b\\ok", "ok", id="apc"),
        pytest.param("\x1b(0lqk\x1b(B", "lqk", id="charset-designation"),
        pytest.param("\x1b7saved\x1b8", "saved", id="save-restore-cursor"),
        pytest.param("\x1bcreset", "reset", id="full-reset"),
        pytest.param("\x1b#8x", "x", id="decaln"),
        pytest.param("\x9b31mred", "red", id="8-bit-csi"),
        pytest.param("\x9b2Jx", "x", id="8-bit-csi-clear"),
        pytest.param("\x9d0;pwned\x07x", "x", id="8-bit-osc-bel"),
        pytest.param("\x9d0;pwned\x9cx", "x", id="8-bit-osc-8-bit-st"),
        pytest.param("\x90dcs\x9cx", "x", id="8-bit-dcs"),
        pytest.param("\x9fapc\x1b\\x", "x", id="8-bit-apc"),
        pytest.param("a\x85b\x8ec", "abc", id="other-c1"),
        pytest.param("ORD-\u202e4321", "ORD-4321", id="bidi-override"),
        pytest.param("\u2066a\u2069\u2067b\u2069\u2068c\u2069", "abc", id="bidi-isolates"),
        pytest.param("\u202aa\u202bb\u202cc\u202dd", "abcd", id="bidi-embeddings"),
        pytest.param("\u200ea\u200fb\u061cc", "abc", id="bidi-marks"),
        pytest.param("ORD\u200b-1\ufeff\u2060", "ORD-1", id="zero-width"),
        pytest.param("a\x00b\x07c\x08d\x0be\x0cf\x1ag\x7fh", "abcdefgh", id="c0-and-del"),
        pytest.param("a\x1b", "a", id="lone-trailing-esc"),
        pytest.param("a\x1b\x00[31mb", "a[31mb", id="broken-escape-leaves-no-esc"),
        pytest.param("line 1\nline 2\tcol", "line 1\nline 2\tcol", id="newline-and-tab-kept"),
        pytest.param("a\r\nb", "a\nb", id="crlf-to-newline"),
        pytest.param("overwrite\rX", "overwrite\nX", id="bare-cr-to-newline"),
        pytest.param("a\u2028b\u2029c", "a\nb\nc", id="line-and-paragraph-separators"),
        pytest.param("bad \ud800 byte", "bad \ufffd byte", id="lone-surrogate"),
    ],
)
def test_clean_removes(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "[@click=app.quit]x[/]",
        "[/]",
        "[bold red]not bold[/bold red]",
        "[link=https://example.com]x[/link]",
        "$variable {braces} <angle> & ampersand",
        ":smile: :thumbs_up:",
        "Müller & Søn GmbH — Zürich, «Lieferung» №5",
        "Ação, Łódź, İstanbul, Ελλάδα, Москва, 東京, שלום, مرحبا",
        "👍 📦🚚 👨\u200d👩\u200d👧 ❤\ufe0f 🇩🇪 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        "e\u0301 (e and a combining acute)",
        "Tab\tand\nnewline",
        "",
    ],
)
def test_clean_keeps_ordinary_and_markup_looking_text(text: str) -> None:
    assert clean(text) == text


def test_clean_none_and_non_strings() -> None:
    assert clean(None) == ""
    assert clean(42) == "42"
    assert clean(3.5) == "3.5"

    class Evil:
        def __str__(self) -> str:
            return "\x1b[2Jboo"

    assert clean(Evil()) == "boo"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme\nGmbH", "Acme GmbH"),
        ("a\r\n\r\nb", "a b"),
        ("a\tb", "a b"),
        ("a\n\t\nb", "a b"),
        ("a\u2028b\u2029c", "a b c"),
        ("a\x1b[2J\nb", "a b"),
        ("trailing\n", "trailing "),
    ],
)
def test_clean_single_line(raw: str, expected: str) -> None:
    assert clean(raw, single_line=True) == expected


@pytest.mark.parametrize(
    ("raw", "limit", "expected"),
    [
        ("Acme Logistics", 20, "Acme Logistics"),
        ("Acme Logistics", 14, "Acme Logistics"),
        ("Acme Logistics", 13, "Acme Logisti…"),
        ("Acme Logistics", 6, "Acme…"),  # "Acme " would end in a space: it is dropped
        ("Acme Logistics", 1, "…"),
        ("Acme Logistics", 0, ""),
        ("\x1b[31mAcme\x1b[0m", 4, "Acme"),  # the limit counts what is left, not the escapes
    ],
)
def test_clean_limit(raw: str, limit: int, expected: str) -> None:
    assert clean(raw, limit=limit) == expected


def test_clean_negative_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="limit"):
        clean("x", limit=-1)


def test_ellipsis_is_one_character() -> None:
    assert ELLIPSIS == "\u2026"


# ----------------------------------------------------------------------------- literal()


def test_literal_is_a_plain_rich_text() -> None:
    t = literal("[@click=app.quit]x[/] \x1b[31mred")
    assert isinstance(t, Text)
    assert t.plain == "[@click=app.quit]x[/] red"
    assert t.spans == []
    assert str(t.style) == ""


def test_literal_passes_options_and_style() -> None:
    t = literal("Acme\nLogistics", single_line=True, limit=9, style="bold")
    assert t.plain == "Acme Log…"
    assert t.style == "bold"


def test_literal_renders_markup_as_characters() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="truecolor", width=80)
    console.print(literal("[bold]x[/bold] [@click=app.quit]quit[/] \x1b]0;pwned\x07"))
    rendered = out.getvalue()
    assert "[bold]x[/bold] [@click=app.quit]quit[/]" in rendered
    assert "pwned" not in rendered
    assert "\x1b]" not in rendered


# ----------------------------------------------------------------------------- properties

SPECIALS = [
    "\x1b",
    "\x1b[",
    "\x1b]",
    "\x1b\\",
    "\x1bP",
    "\x1b[31m",
    "\x1b]0;t\x07",
    "\x07",
    "\x9b",
    "\x9c",
    "\x9d",
    "\x90",
    "\r",
    "\n",
    "\t",
    "\x7f",
    "\u202e",
    "\u2066",
    "\u2028",
    "\u200b",
    "\ufeff",
    "\ud800",
    "\udfff",
    "[",
    "]",
    "[/]",
    ";",
]

any_text = st.lists(
    st.one_of(
        st.text(min_size=1, max_size=5),
        st.characters(max_codepoint=0xFF).map(str),
        st.sampled_from(SPECIALS),
    ),
    max_size=30,
).map("".join)

# Letters, marks, digits, punctuation (brackets included), symbols (emoji), spaces.
ordinary_text = st.text(
    alphabet=st.one_of(
        st.characters(categories=("L", "M", "N", "P", "S", "Zs")),
        st.sampled_from(["\n", "\t", "\u200d", "\ufe0f"]),
    )
)


@given(any_text, st.booleans())
def test_property_output_has_no_controls(raw: str, single_line: bool) -> None:
    out = clean(raw, single_line=single_line)
    bad = [f"U+{ord(c):04X}" for c in out if forbidden(c, single_line=single_line)]
    assert bad == [], f"{raw!r} -> {out!r}"


@given(any_text, st.booleans(), st.one_of(st.none(), st.integers(min_value=0, max_value=40)))
def test_property_idempotent(raw: str, single_line: bool, limit: int | None) -> None:
    once = clean(raw, single_line=single_line, limit=limit)
    assert clean(once, single_line=single_line, limit=limit) == once


@given(any_text, st.integers(min_value=0, max_value=40))
def test_property_limit_is_respected(raw: str, limit: int) -> None:
    assert len(clean(raw, limit=limit)) <= limit


@given(ordinary_text)
def test_property_ordinary_text_unchanged(text: str) -> None:
    assert clean(text) == text


@given(st.text(alphabet=st.characters(categories=("L", "N", "P", "S", "Zs"))))
def test_property_ordinary_single_line_text_unchanged(text: str) -> None:
    assert clean(text, single_line=True) == text


@given(any_text)
def test_property_result_can_be_encoded(raw: str) -> None:
    # A terminal write must never fail on what clean() returns.
    clean(raw).encode("utf-8")


def test_forbidden_helper_agrees_with_unicode_categories() -> None:
    # Guard the test helper itself: every C0/C1 control is Cc and counted as forbidden.
    for cp in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
        ch = chr(cp)
        assert unicodedata.category(ch) == "Cc"
        assert forbidden(ch) is (ch not in "\n\t")
