"""Visit photos: checked by their bytes (not their name), kept under <var>/photos/, served behind scoping."""

from __future__ import annotations

import os
from pathlib import Path

from server.db import new_id
from server.errors import Message, ValidationError
from server.i18n import N_

MAX_BYTES = 8 * 1024 * 1024
# What the first bytes of each accepted image type look like, and how it is served.
SIGNATURES = {
    "jpg": (b"\xff\xd8\xff", "image/jpeg"),
    "png": (b"\x89PNG\r\n\x1a\n", "image/png"),
    "webp": (b"RIFF", "image/webp"),
}


def photo_dir(var_dir: Path) -> Path:
    return var_dir / "photos"


def kind_of(data: bytes) -> str | None:
    for extension, (magic, _) in SIGNATURES.items():
        if data.startswith(magic) and (extension != "webp" or data[8:12] == b"WEBP"):
            return extension
    return None


def check(data: bytes) -> str:
    """The file extension for an acceptable photo, or a ValidationError saying what is wrong."""
    if len(data) > MAX_BYTES:
        raise ValidationError(
            {"photo": Message(N_("Photos can be at most %(max)s MB."), {"max": MAX_BYTES // 2**20})}
        )
    extension = kind_of(data)
    if extension is None:
        raise ValidationError({"photo": Message(N_("Choose a JPEG, PNG or WebP photo."))})
    return extension


def save(var_dir: Path, data: bytes, extension: str) -> str:
    """Write the photo under a fresh random name; returns the name to store on the visit."""
    folder = photo_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{new_id().hex}.{extension}"
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)  # never a half-written photo under its real name
    return name


def path_of(var_dir: Path, name: str) -> tuple[Path, str]:
    """Where a stored photo is, and its media type."""
    extension = name.rsplit(".", 1)[-1]
    return photo_dir(var_dir) / Path(name).name, SIGNATURES[extension][1]


def remove(var_dir: Path, name: str) -> None:
    """Delete a photo that was saved for an outcome the rep then could not record."""
    (photo_dir(var_dir) / Path(name).name).unlink(missing_ok=True)
