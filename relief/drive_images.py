"""A drive's image: an organizer uploads a photo; Pillow checks it is one, re-encodes it (so no
EXIF — camera, place, time — or anything else hidden in the file survives), turns it upright
and makes it at most :data:`LARGE_WIDTH` wide, plus a :data:`SMALL_WIDTH` version for phones.
The bytes are kept in the database (``drive_image``) so every app server serves them without
shared files, under a URL named by a digest of their content: a new image is a new URL, and
each URL can be cached for good.

The drive's page reads only the drive's own columns (digest, description, size), which are
in its cached page's key (relief.pagecache.state): a new image changes the page's ETag.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from sqlalchemy import delete
from sqlmodel import Session, select

from relief.errors import InvalidInput, NotFound
from relief.models import Drive, DriveImage
from relief.validation import check_text

#: The largest file an organizer may upload (a phone's photo is 2 to 6 MB).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Beyond this many pixels a file is refused before it is decoded (a "decompression bomb"
#: unpacks a small file into gigabytes).
MAX_PIXELS = 50_000_000
MIN_WIDTH = 400
LARGE_WIDTH = 1600
SMALL_WIDTH = 800
#: The formats a browser uploads a photo in; anything else is refused with a sentence.
READ_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
JPEG_QUALITY = 82
CONTENT_TYPE = "image/jpeg"
ALT_MAX = 300

NOT_AN_IMAGE = (
    "This file is not a photo Relief can read. Upload a JPEG, PNG or WebP image (most phones "
    "and cameras save JPEG)."
)


@dataclass(frozen=True)
class Encoded:
    """One version of the image, re-encoded."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Prepared:
    """An upload made ready to store: its large and small versions and their digest."""

    large: Encoded
    small: Encoded
    #: Names the image in its URLs: the first 32 hex digits of the large version's SHA-256.
    digest: str


_truncation = threading.Lock()


@contextmanager
def _whole_files_only():
    """Refuse a file cut short (an upload that stopped half-way), which Pillow would decode
    with a grey bottom: WeasyPrint, once imported, tells Pillow to accept such files, for the
    whole process. Its PDFs embed only our own packaged, whole files, so turning that off
    while an upload is decoded changes nothing for them."""
    with _truncation:
        accepted = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = accepted


def _encode(image: Image.Image, width: int) -> Encoded:
    version = image.copy()
    if version.width > width:
        height = max(1, round(version.height * width / version.width))
        version = version.resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif= and no icc_profile=: the new file carries none of the upload's metadata.
    version.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return Encoded(out.getvalue(), version.width, version.height)


def prepare(data: bytes) -> Prepared:
    """Check an upload and re-encode it; InvalidInput with a sentence for anything that is
    not a readable photo, too large a file, or too small or too large a picture."""
    if not data:
        raise InvalidInput("Choose an image file to upload.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"This file is {len(data) / 1024 / 1024:.1f} MB; images may be at most "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Save a smaller copy and upload that."
        )
    try:
        with warnings.catch_warnings(), _whole_files_only():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.format not in READ_FORMATS:
                raise InvalidInput(NOT_AN_IMAGE)
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(
                    f"This image is {image.width:,} × {image.height:,} pixels; at most "
                    f"{MAX_PIXELS // 1_000_000} million pixels are accepted. Save a smaller copy."
                )
            image.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
    ):
        raise InvalidInput(NOT_AN_IMAGE) from None
    image = ImageOps.exif_transpose(image)  # upright as the camera meant, before EXIF goes
    if image.width < MIN_WIDTH:
        raise InvalidInput(
            f"This image is {image.width} pixels wide; use one at least {MIN_WIDTH} pixels "
            "wide so it is sharp on the page."
        )
    if image.mode != "RGB":
        # Transparency onto white, as the page shows it; palettes and greys to colour.
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
    large = _encode(image, LARGE_WIDTH)
    small = _encode(image, SMALL_WIDTH)
    return Prepared(large, small, hashlib.sha256(large.data).hexdigest()[:32])


def file_names(digest: str) -> tuple[str, str]:
    """The URL names of an image's large and small versions."""
    return f"{digest}.jpg", f"{digest}-{SMALL_WIDTH}.jpg"


def set_image(session: Session, drive: Drive, data: bytes | None, alt: str) -> bool:
    """Give ``drive`` the uploaded image (``data``; None keeps the current one) described by
    ``alt``; the drive's earlier image is deleted. Returns True if a new image was stored.
    Flushes; the caller's unit commits."""
    alt = check_text(alt, "image's description", ALT_MAX)
    if data is None:
        if drive.image_digest is None:
            raise InvalidInput("Choose an image file to upload.")
        drive.image_alt = alt
        session.add(drive)
        session.flush()
        return False
    prepared = prepare(data)
    session.execute(delete(DriveImage).where(DriveImage.drive_id == drive.id))  # type: ignore[arg-type]
    assert drive.id is not None, "a stored drive"
    versions = (prepared.large, prepared.small)
    for name, version in zip(file_names(prepared.digest), versions, strict=True):
        session.add(
            DriveImage(
                drive_id=drive.id,
                name=name,
                width=version.width,
                height=version.height,
                content_type=CONTENT_TYPE,
                data=version.data,
            )
        )
    drive.image_digest = prepared.digest
    drive.image_alt = alt
    drive.image_width, drive.image_height = prepared.large.width, prepared.large.height
    session.add(drive)
    session.flush()
    return True


def remove_image(session: Session, drive: Drive) -> bool:
    """Take the drive's image off its page and out of the database. False if it had none."""
    if drive.image_digest is None:
        return False
    session.execute(delete(DriveImage).where(DriveImage.drive_id == drive.id))  # type: ignore[arg-type]
    drive.image_digest, drive.image_alt = None, ""
    drive.image_width = drive.image_height = None
    session.add(drive)
    session.flush()
    return True


def stored(session: Session, drive_slug: str, name: str) -> DriveImage:
    """The stored version named ``name`` of the drive's image; NotFound otherwise (an old
    image's URL included: the page names only the current one)."""
    found = session.exec(
        select(DriveImage)
        .join(Drive, Drive.id == DriveImage.drive_id)  # type: ignore[arg-type]
        .where(Drive.slug == drive_slug, DriveImage.name == name)
    ).first()
    if found is None:
        raise NotFound("There is no such image.")
    return found
