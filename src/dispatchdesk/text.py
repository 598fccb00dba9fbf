"""The one sanitiser for text that came from outside the depot.

Partner names, order fields, reasons, error bodies from a partner's server and imported
files all end up on a dispatcher's terminal, often over SSH (SPEC 5: "Text that came from
outside ... is always shown as literal text: never as markup, never as terminal control
sequences"). A partner name carrying ``ESC ] 0 ; ... BEL`` would retitle the window,
``ESC [ 2 J`` would wipe the screen, and a right-to-left override would make
``ORD-1234`` read as something else. So every such string goes through :func:`clean`
before it is shown, stored in a follow-up or written to a report, and screens show the
result with :func:`literal` (or ``textual.content.Content``) so that text such as
``[@click=app.quit]`` stays plain characters and is never parsed as markup.

What :func:`clean` removes:

- ANSI/VT escape sequences, whole: CSI (``ESC [`` ... final byte), OSC (``ESC ]`` ...
  BEL or ST), DCS/SOS/PM/APC strings (``ESC P`` / ``ESC X`` / ``ESC ^`` / ``ESC _`` ...
  ST), the two-character ``ESC x`` forms (with any intermediate bytes), and the same
  introduced by their 8-bit C1 forms (U+009B CSI, U+009D OSC, U+0090 DCS, ...). A string
  sequence with no terminator runs to the next ESC or to the end of the text, as it
  would on a terminal;
- C0 controls except newline and tab, DEL, and the C1 controls U+0080-U+009F;
- bidi controls and other invisible format characters that can make text read as
  something it is not (zero-width space, word joiner, BOM, ...). The zero-width joiner
  and non-joiner stay: emoji sequences and several scripts need them;
- lone surrogates (from badly decoded bytes) become U+FFFD, so that writing the text to
  the terminal cannot fail.

Carriage returns become newlines (a bare CR would let text overwrite its own line), and
U+2028/U+2029 become newlines too. With ``single_line=True`` every run of newlines, tabs
and line/paragraph separators becomes one space. Markup-looking text is left alone.

No textual import here: the domain, the store, the services and the link use this module.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["ELLIPSIS", "clean", "is_clean", "literal"]

ELLIPSIS = "…"

# String terminator: ESC \ or the 8-bit ST.
_ST = r"(?:\x1b\\|\x9c)"

_SEQUENCE = re.compile(
    "|".join(
        [
            # OSC: ESC ] or U+009D, up to BEL or ST. A terminal drops an unfinished one at
            # the next ESC, and it swallows the rest when there is none.
            rf"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|{_ST}|(?=\x1b)|$)",
            # DCS, SOS, PM, APC: ESC P / X / ^ / _ or their 8-bit forms, up to ST.
            rf"(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:{_ST}|(?=\x1b)|$)",
            # CSI: ESC [ or U+009B, parameter bytes, intermediate bytes, a final byte
            # (missing when the text was cut off).
            r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?",
            # Every other escape: ESC, any intermediate bytes, a final byte.
            r"\x1b[\x20-\x2f]*[\x30-\x7e]",
        ]
    )
)

#: Bidi controls: embeddings and overrides, isolates, marks, the Arabic letter mark.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

#: Other invisible format characters that can hide or spoof text. U+200C/U+200D (the
#: zero-width non-joiner and joiner) are not here: emoji sequences and scripts need them.
_INVISIBLE = (
    "\u200b"  # zero-width space
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible maths operators
    "\u206a\u206b\u206c\u206d\u206e\u206f"  # deprecated format characters
    "\ufeff"  # zero-width no-break space / byte order mark
    "\u180e"  # Mongolian vowel separator
    "\u00ad"  # soft hyphen
    "\ufff9\ufffa\ufffb"  # interlinear annotation
)

_C0_KEPT = "\n\t"

_DELETE: dict[int, None] = {
    cp: None
    for cp in [
        *(c for c in range(0x00, 0x20) if chr(c) not in _C0_KEPT),
        0x7F,
        *range(0x80, 0xA0),
        *map(ord, _BIDI),
        *map(ord, _INVISIBLE),
    ]
}

_SURROGATE = re.compile("[\ud800-\udfff]")
_CR = re.compile(r"\r\n?")
_LINE_SEPARATORS = re.compile("[\u2028\u2029]")
_BREAKS = re.compile("[\n\t]+")


#: Every character clean() (without single_line) would touch: the text is its own result without one.
_TOUCHED = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in sorted(_DELETE)) + "\u2028\u2029\ud800-\udfff]"
)


def is_clean(text: str) -> bool:
    """True when ``clean(text)`` is ``text`` (one scan in C: for a million cells of an export)."""
    return _TOUCHED.search(text) is None


def clean(value: object, *, single_line: bool = False, limit: int | None = None) -> str:
    """Return ``value`` as text that is safe to show on a terminal, and literal.

    ``None`` becomes ``""``; anything else goes through ``str()``. See the module's
    docstring for what is removed. With ``single_line=True`` line breaks and tabs become
    single spaces. With ``limit`` the result is at most that many characters, ending in
    ``…`` when it was cut. Applying ``clean`` twice gives the same result as once.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    text = "" if value is None else str(value)
    text = _SURROGATE.sub("\ufffd", text)
    text = _SEQUENCE.sub("", text)
    text = _CR.sub("\n", text)
    text = _LINE_SEPARATORS.sub("\n", text)
    text = text.translate(_DELETE)
    if single_line:
        text = _BREAKS.sub(" ", text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + ELLIPSIS if limit else ""
    return text


def literal(
    value: object,
    *,
    single_line: bool = False,
    limit: int | None = None,
    style: str = "",
) -> Text:
    """``clean(value)`` as a :class:`rich.text.Text`: shown as is, never parsed as markup.

    ``style`` is a style of ours for the whole text (never one taken from the value).
    """
    return Text(clean(value, single_line=single_line, limit=limit), style=style)
