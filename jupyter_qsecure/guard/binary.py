"""Text or binary, decided from the bytes, never from a name.

A file is text when it decodes as UTF-8, or as UTF-16 / UTF-32 (with a byte order mark, or
without one when its NUL bytes fall where ASCII text in those encodings puts them: what
PowerShell 5 writes by default). A notebook payload declared as an image (``image/png``,
``png``...) is skipped only when it is valid base64 of data of that kind; anything else
under such a name is text and is scanned.
"""

from __future__ import annotations

import binascii
import codecs
import re

#: Bytes examined to tell text from binary, as git does.
SAMPLE = 8192
#: Output and attachment MIME types (and nbformat 3 output keys) declared binary.
BINARY_MIME = re.compile(
    r"^(image/(?!svg\+xml)|audio/|video/|application/(pdf|octet-stream|zip))"
    r"|^(png|jpeg|jpg|gif|pdf)$",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Signatures of binary formats a notebook embeds (images, documents, archives, media).
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"%PDF-",
    b"PK\x03\x04",  # ZIP and its kin
    b"PK\x05\x06",
    b"II*\x00",  # TIFF
    b"MM\x00*",
    b"\x00\x00\x01\x00",  # ICO
    b"OggS",
    b"fLaC",
    b"ID3",  # MP3
    b"\x1aE\xdf\xa3",  # Matroska / WebM
    b"wOFF",  # fonts
    b"wOF2",
)
#: Two-byte signatures (BMP, MPEG audio frames): trusted only on larger payloads.
_SHORT_MAGIC = (b"BM", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_RIFF_KINDS = (b"WEBP", b"WAVE", b"AVI ")
#: Smaller payloads are never taken for binary data: a credential that happens to be
#: valid base64 is short (a 40-character AWS secret key decodes to 30 bytes).
MIN_BINARY_BYTES = 32
_MIN_SHORT_MAGIC_BYTES = 128
_WHITESPACE = b" \t\r\n\f\v"
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def is_strict_base64(raw: bytes) -> bool:
    """Whether ``raw`` is base64 with nothing else: its alphabet, whole quads, padding
    only at the end (one pass in C: images are megabytes)."""
    if len(raw) % 4:
        return False
    rest = raw.translate(None, _BASE64_ALPHABET)
    return rest in (b"", b"=", b"==") and raw.endswith(rest)


def strict_base64(raw: bytes) -> bytes | None:
    """The bytes ``raw`` is strict base64 of (see :func:`is_strict_base64`), or None."""
    return binascii.a2b_base64(raw) if is_strict_base64(raw) else None


def text_encoding(raw: bytes) -> str | None:
    """The encoding of text with NUL bytes (UTF-16 or UTF-32, by byte order mark or by
    where the NULs fall), or None when ``raw`` holds no NUL or is not such text."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom) and bom != codecs.BOM_UTF8:
            return encoding
    sample = raw[:SAMPLE]
    if b"\x00" not in sample:
        return None
    sample = sample[: len(sample) - len(sample) % 4] or sample
    for encoding, width, zero_lanes in (
        ("utf-32-le", 4, (1, 2, 3)),
        ("utf-32-be", 4, (0, 1, 2)),
        ("utf-16-le", 2, (1,)),
        ("utf-16-be", 2, (0,)),
    ):
        units = len(sample) // width
        if units < 2:
            continue
        lanes = [sample[lane::width][:units] for lane in range(width)]
        if not all(lanes[lane].count(0) >= 0.7 * units for lane in zero_lanes):
            continue
        text_lanes = [lanes[lane] for lane in range(width) if lane not in zero_lanes]
        # Characters are not NUL: their own byte is set (NUL characters are rare in text).
        if any(lane.count(0) > 0.05 * units for lane in text_lanes):
            continue
        try:  # the sample may end inside a character: decoded as the start of a stream
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            return None
        return encoding
    return None


def looks_binary(raw: bytes) -> bool:
    """A NUL byte in the first 8 KiB marks a binary file, as git decides, unless the bytes
    are UTF-16 or UTF-32 text (:func:`text_encoding`)."""
    return b"\x00" in raw[:SAMPLE] and text_encoding(raw) is None


def decode_text(raw: bytes) -> str:
    """Bytes as text: UTF-16/32 when :func:`text_encoding` says so, else UTF-8 (with or
    without BOM), else Latin-1 so that no byte is lost and ASCII credentials inside other
    encodings are still found."""
    encoding = text_encoding(raw)
    if encoding is not None:
        return raw.decode(encoding, "replace").removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def reencoded_text(text: str) -> str:
    """Text read as UTF-8 that is really UTF-16 or UTF-32 (NUL is valid UTF-8: jupyter_server
    gives a BOM-less UTF-16 file as text with a NUL after each character), decoded
    properly; any other text as it is."""
    if "\x00" not in text[:SAMPLE]:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return decode_text(raw) if text_encoding(raw) is not None else text


def is_binary_data(head: bytes, size: int) -> bool:
    """Whether data of ``size`` bytes starting with ``head`` is a binary format a notebook
    embeds, by its signature."""
    if size < MIN_BINARY_BYTES:
        return False
    if head.startswith(_MAGIC) or head[4:8] == b"ftyp":  # ISO media: MP4, MOV, AVIF, HEIC
        return True
    if head.startswith(b"RIFF") and head[8:12] in _RIFF_KINDS:
        return True
    return size >= _MIN_SHORT_MAGIC_BYTES and head.startswith(_SHORT_MAGIC)


def binary_payload(text: str) -> bool:
    """Whether ``text`` (an output's, attachment's or key's value declared binary) is
    valid base64 of a binary format. Anything else (a credential, any text) is not, and
    is scanned as text."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return False
    raw = raw.translate(None, _WHITESPACE)
    head = strict_base64(raw[:64])
    if head is None or not is_binary_data(head, len(raw) // 4 * 3):
        return False
    return is_strict_base64(raw)


def base64_text(text: str) -> str | None:
    """The text that ``text`` is strict base64 of (UTF-8, or UTF-16/32), or None."""
    try:
        raw = text.encode("ascii").translate(None, _WHITESPACE)
    except UnicodeEncodeError:
        return None
    data = strict_base64(raw)
    if not data:
        return None
    encoding = text_encoding(data)
    if encoding is not None:
        return data.decode(encoding, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
