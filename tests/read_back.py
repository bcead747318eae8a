"""Read what the app hands a person back as that person would: a PDF's text (poppler's
pdftotext) and the QR codes a PDF or an SVG shows, decoded from pixels by zxing-cpp — never
from the file's markup, so a code that draws the wrong address (or nothing readable) fails."""

from __future__ import annotations

import subprocess
import tempfile
from base64 import b64encode
from pathlib import Path

import zxingcpp
from PIL import Image


def pdf_text(pdf: bytes, layout: bool = True) -> str:
    """The PDF's text; ``layout`` keeps columns side by side as they are printed."""
    command = ["pdftotext", *(["-layout"] if layout else []), "-", "-"]
    return subprocess.run(command, input=pdf, capture_output=True, check=True).stdout.decode()


def qr_codes_in_pdf(pdf: bytes, dpi: int = 200) -> list[str]:
    """The text of every QR code printed in the PDF, page by page, read from its pixels."""
    with tempfile.TemporaryDirectory(prefix="relief-qr-") as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", str(source), str(Path(folder) / "page")],
            check=True,
            capture_output=True,
        )
        found = []
        for page in sorted(Path(folder).glob("page*.png")):
            with Image.open(page) as image:
                found += qr_codes_in_image(image)
        return found


def qr_codes_in_svg(svg: bytes) -> list[str]:
    """The QR codes an SVG shows, drawn as a browser would draw an <img> of it (WeasyPrint
    lays it out on a page, poppler rasterises that page)."""
    from weasyprint import HTML

    source = f"data:image/svg+xml;base64,{b64encode(svg).decode()}"
    page = HTML(string=f'<img src="{source}" style="width: 60mm">').write_pdf()
    return qr_codes_in_pdf(page)


def qr_codes_in_png(png: bytes) -> list[str]:
    """The QR codes in a screenshot."""
    import io

    with Image.open(io.BytesIO(png)) as image:
        return qr_codes_in_image(image)


def qr_codes_in_image(image: Image.Image) -> list[str]:
    return [
        code.text for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def pdf_info(pdf: bytes) -> dict[str, str]:
    """poppler's pdfinfo fields (``Pages``, ``Page size``, ``Title`` …)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as source:
        source.write(pdf)
        source.flush()
        out = subprocess.run(
            ["pdfinfo", source.name], check=True, capture_output=True, text=True
        ).stdout
    return {
        key.strip(): value.strip()
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    }
