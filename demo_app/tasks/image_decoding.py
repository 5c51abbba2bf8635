"""Reading an uploaded image safely: bytes in, an upright RGB picture out, or an error that says why.

Accepted: JPEG, PNG, WebP, GIF (its first frame) and BMP. The EXIF orientation a phone camera
writes is applied, so a portrait photo is classified upright (a broken EXIF block is ignored).
Pictures are shrunk to at most MAX_SIDE pixels a side as they are decoded, and large ones are
decoded one at a time, so many large uploads at once cannot exhaust memory; after a large one
the C allocator is asked to give the freed memory back to the system (glibc keeps it otherwise,
and a few dozen large photos would leave the server gigabytes bigger). Grey, palette, RGBA (over white),
CMYK and 16-bit pictures become RGB. The pixel count is checked from the file's header, before
any pixel is decoded, so a "decompression bomb" (a small file that claims a huge picture) is
refused without using memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import threading
import time
import warnings

from .fields import FieldError

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO")  # MPO: a JPEG from some phone cameras
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # 40 megapixels: any phone photo; a 20000x20000 bomb is refused
MAX_SIDE = 1024  # larger pictures are shrunk at once: every model here reads at most a few hundred
LARGE_PIXELS = 4_000_000  # pictures this large are decoded one at a time (memory stays bounded)
_LARGE_DECODE = threading.Lock()
TRIM_PIXELS = 1_000_000  # after decoding a picture this large, memory is handed back (at most ...
TRIM_EVERY_S = 0.5  # ... this often)
_last_trim = 0.0


class ImageError(FieldError):
    """The bytes are not an image this demo reads; ``status`` is the HTTP status to answer (a
    field that cannot be used, answered as every other)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_image(data: bytes, name: str = "the file", max_pixels: int = MAX_IMAGE_PIXELS,
                 max_bytes: int = MAX_IMAGE_BYTES):
    """``data`` as an upright RGB ``PIL.Image``; an :class:`ImageError` (400, or 413 for a file
    or picture over the limits) naming ``name`` otherwise."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"{name} is {len(data)} bytes; the limit is {max_bytes} bytes", 413)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))  # reads the header only
            if picture.format not in FORMATS:
                raise ImageError(f"{name} is a {picture.format} image; send JPEG, PNG, WebP, GIF or BMP")
            width, height = picture.size
            if width * height > max_pixels:
                raise ImageError(f"{name} is {width}x{height} pixels; the limit is {max_pixels} "
                                 "pixels (about 40 megapixels)", 413)
            picture.seek(0)  # a GIF's (or an animated WebP's) first frame
            if picture.format in ("JPEG", "MPO"):
                picture.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decodes a big JPEG at a smaller scale
            large = width * height > LARGE_PIXELS
            with _LARGE_DECODE if large else contextlib.nullcontext():
                picture = _small(picture)
                if large:  # before the next large one is decoded
                    release_freed_memory(at_once=True)
            if not large and width * height > TRIM_PIXELS:  # a large one was handed back above
                release_freed_memory()
            return to_rgb(_upright(picture))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image (send JPEG, PNG, WebP, GIF or BMP)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name} claims far more pixels than the limit of {max_pixels} pixels "
                         "(about 40 megapixels); it is not decoded", 413) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name} could not be read as an image; it may be truncated or damaged "
                         f"({' '.join(str(error).split())[:120]})") from None


def release_freed_memory(at_once: bool = False) -> None:
    """Ask glibc to return freed heap memory to the system (``malloc_trim``; at most every
    ``TRIM_EVERY_S`` unless ``at_once``); nothing elsewhere."""
    global _last_trim
    now = time.monotonic()
    if (now - _last_trim < TRIM_EVERY_S and not at_once) or _malloc_trim is None:
        return
    _last_trim = now
    _malloc_trim(0)


def _find_malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return None


_malloc_trim = _find_malloc_trim()


def _small(picture):
    """The decoded picture, at most MAX_SIDE pixels on its longer side, in its own mode."""
    picture.load()
    if max(picture.size) > MAX_SIDE:
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    return picture


def _upright(picture):
    """``picture`` turned as its EXIF orientation says; as it is when the EXIF is broken."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(picture)
    except Exception:  # noqa: BLE001 - broken EXIF (struct.error, ...) is not a broken picture
        return picture


def to_rgb(picture):
    """``picture`` in RGB: transparency over white, CMYK and grey and 16-bit converted."""
    from PIL import Image

    if picture.mode == "RGB":
        return picture
    if picture.mode == "P":
        picture = picture.convert("RGBA")
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        picture = picture.point(lambda value: value * (1 / 256)).convert("L")
    return picture.convert("RGB")
