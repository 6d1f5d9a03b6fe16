"""Read the XWD frame buffer Xvfb keeps in a file (``Xvfb -fbdir``): a screenshot without
extra tools."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def read_xwd(path: Path) -> np.ndarray:
    """RGB image (h, w, 3) of a 24/32-bit TrueColor XWD file."""
    raw = Path(path).read_bytes()
    fields = struct.unpack(">25I", raw[:100])
    header_size, width, height = fields[0], fields[4], fields[5]
    byte_order, bits_per_pixel, bytes_per_line, ncolors = fields[7], fields[11], fields[12], fields[19]
    if bits_per_pixel != 32:
        raise ValueError(f"{path}: {bits_per_pixel} bits per pixel, expected 32 (Xvfb -screen 0 WxHx24)")
    start = header_size + 12 * ncolors
    rows = np.frombuffer(raw, dtype=np.uint8, count=bytes_per_line * height, offset=start)
    pixels = rows.reshape(height, bytes_per_line)[:, : width * 4].reshape(height, width, 4)
    # LSBFirst (0): bytes are B, G, R, x.
    return pixels[:, :, [2, 1, 0]] if byte_order == 0 else pixels[:, :, [1, 2, 3]]
