"""Draw Fieldbook's app icons as PNG files, with nothing but the standard library.

    python scripts/make-icons.py

The mark: a white notebook page with a map pin, on the brand green. The maskable icon keeps the
mark inside the central 80 % "safe zone" that launchers never crop.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

GREEN = (15, 92, 77)
WHITE = (255, 255, 255)
AMBER = (242, 169, 59)
OUT = Path(__file__).resolve().parent.parent / "pwa" / "icons"


def inside_rounded_rect(
    x: float, y: float, left: float, top: float, right: float, bottom: float, r: float
) -> bool:
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def inside_pin(x: float, y: float, cx: float, cy: float, r: float) -> bool:
    """A map pin: a circle with a point below it."""
    if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
        return True
    # The point: a triangle from the circle's sides down to (cx, cy + 2.1r).
    tip = cy + 2.1 * r
    if cy <= y <= tip:
        half = r * math.sqrt(max(0.0, 1 - ((y - cy) / (tip - cy)) ** 2)) * (tip - y) / (tip - cy) * 1.2
        return abs(x - cx) <= half
    return False


def pixel(x: float, y: float, size: int, maskable: bool) -> tuple[int, int, int, int]:
    s = size
    if not maskable and not inside_rounded_rect(x, y, 0, 0, s, s, s * 0.18):
        return (0, 0, 0, 0)
    scale = 0.72 if maskable else 1.0  # shrink the mark into the safe zone
    u = (x - s / 2) / scale + s / 2
    v = (y - s / 2) / scale + s / 2
    hole_r = s * 0.045
    if (u - s * 0.5) ** 2 + (v - s * 0.43) ** 2 <= hole_r**2:
        return (*AMBER, 255)
    if inside_pin(u, v, s * 0.5, s * 0.43, s * 0.12):
        return (*GREEN, 255)
    if inside_rounded_rect(u, v, s * 0.24, s * 0.18, s * 0.76, s * 0.82, s * 0.05):
        for line_y in (0.66, 0.73):
            if s * line_y <= v <= s * (line_y + 0.025) and s * 0.32 <= u <= s * 0.68:
                return (*GREEN, 255)
        return (*WHITE, 255)
    return (*GREEN, 255)


def write_png(path: Path, size: int, maskable: bool) -> None:
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter: none
        for x in range(size):
            rows.extend(pixel(x + 0.5, y + 0.5, size, maskable))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
    path.write_bytes(png + chunk(b"IEND", b""))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write_png(OUT / "icon-192.png", 192, maskable=False)
    write_png(OUT / "icon-512.png", 512, maskable=False)
    write_png(OUT / "maskable-512.png", 512, maskable=True)
    write_png(OUT / "apple-touch-icon-180.png", 180, maskable=True)
    print("icons written to", OUT)
