"""Width and height of JPEG and PNG bytes, read from the header alone.

Shared by the nginx tests (conftest.py) and `make bench-compare`
(benches/compare/compare.py), which adds this folder to sys.path.
"""

import struct


def image_size(data):
    """(format, width, height): format "png", "jpeg" or "unknown"; width and
    height are None for a JPEG without a frame header and for unknown data."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] != b"\xff\xd8":
        return "unknown", None, None
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            at += 1
            continue
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            at += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        # SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return "jpeg", width, height
        at += 2 + length
    return "jpeg", None, None
