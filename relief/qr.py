"""The QR code of a page's address, drawn once for the drive page and the press report."""

from __future__ import annotations

from io import BytesIO

import segno


def svg(url: str, scale: int) -> bytes:
    """``url`` as an SVG QR code, ``scale`` pixels per module: error correction M (still read
    with a smudge or a fold in print), a two-module quiet zone, the address as its title."""
    buffer = BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=scale, border=2, title=url)
    return buffer.getvalue()
