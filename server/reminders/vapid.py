"""The VAPID key pair that signs our pushes: from FIELDBOOK_VAPID_PRIVATE_KEY, or generated once into var_dir."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

if TYPE_CHECKING:
    from pathlib import Path

    from server.settings import Settings

KEY_FILE = "vapid_private_key.pem"


def _from_text(text: str) -> Vapid:
    if "-----BEGIN" in text:
        return Vapid.from_pem(text.encode())
    return Vapid.from_string(private_key=text)  # raw or DER, base64url


def _generate_into(path: Path) -> None:
    """Write a new key, unless another process just did (the first one to link its file wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vapid = Vapid()
    vapid.generate_keys()
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(vapid.private_pem())
    try:
        os.link(draft, path)  # atomic, and refuses to replace a key another process wrote
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def load(settings: Settings) -> Vapid:
    if settings.vapid_private_key:
        return _from_text(settings.vapid_private_key)
    path = settings.var_dir / KEY_FILE
    if not path.exists():
        _generate_into(path)
    return _from_text(path.read_text())


def public_key(vapid: Vapid) -> str:
    """The application server key a browser subscribes with: the uncompressed point, base64url."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
