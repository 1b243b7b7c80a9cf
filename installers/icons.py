"""The app icon: one geometry, drawn as SVG and rasterised to PNG, packed into .ico and .icns.

A padlock on a blue rounded square. ``python installers/icons.py --resources`` regenerates the
committed ``resources/icons/`` files (SVG + PNGs, a few seconds, pure Python so no Qt and no
image library is needed); ``installers/build`` runs ``--out build/icons`` to pack the committed
PNGs into the Windows ``.ico`` and the macOS ``.icns`` (both may hold PNG images directly).
"""

from __future__ import annotations

import argparse
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICON_DIR = ROOT / "resources" / "icons"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 32, 48, 256)
#: .icns element types holding PNG data, by pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}

BLUE = (29, 78, 216)
WHITE = (255, 255, 255)
VIEW = 256.0  # the geometry's coordinate system (SVG viewBox)


class IconError(Exception):
    """An icon file is missing or not what the packer expects."""


def svg() -> str:
    """The icon as SVG (the same shapes :func:`colour_at` rasterises)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256" width="256" height="256">\n'
        "  <title>lockdown</title>\n"
        '  <rect x="16" y="16" width="224" height="224" rx="48" fill="#1d4ed8"/>\n'
        '  <path d="M85 128 V104 A43 43 0 0 1 171 104 V128" fill="none" stroke="#ffffff"'
        ' stroke-width="18"/>\n'
        '  <rect x="60" y="120" width="136" height="100" rx="14" fill="#ffffff"/>\n'
        '  <circle cx="128" cy="160" r="14" fill="#1d4ed8"/>\n'
        '  <rect x="122" y="160" width="12" height="36" fill="#1d4ed8"/>\n'
        "</svg>\n"
    )


def _in_rounded_rect(x: float, y: float, box: tuple[float, float, float, float],
                     radius: float) -> bool:
    left, top, width, height = box
    right, bottom = left + width, top + height
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + radius), right - radius)
    cy = min(max(y, top + radius), bottom - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def colour_at(x: float, y: float) -> tuple[int, int, int] | None:
    """The colour at one point of the 256x256 geometry (None: transparent)."""
    if not _in_rounded_rect(x, y, (16, 16, 224, 224), 48):
        return None
    in_keyhole = math.hypot(x - 128, y - 160) <= 14 or (122 <= x <= 134 and 160 <= y <= 196)
    if _in_rounded_rect(x, y, (60, 120, 136, 100), 14):
        return BLUE if in_keyhole else WHITE
    ring = math.hypot(x - 128, y - 104)
    if (y <= 104 and 34 <= ring <= 52) or (104 < y <= 128 and (76 <= x <= 94 or 162 <= x <= 180)):
        return WHITE
    return BLUE


def render_rgba(size: int, samples: int = 4) -> bytes:
    """RGBA pixels (row-major), anti-aliased by ``samples`` x ``samples`` supersampling."""
    if size < 1:
        raise IconError(f"icon size must be positive, not {size}")
    scale = VIEW / size
    offsets = [(i + 0.5) / samples for i in range(samples)]
    total = samples * samples
    out = bytearray()
    for row in range(size):
        for col in range(size):
            red = green = blue = covered = 0
            for dy in offsets:
                for dx in offsets:
                    colour = colour_at((col + dx) * scale, (row + dy) * scale)
                    if colour is not None:
                        red += colour[0]
                        green += colour[1]
                        blue += colour[2]
                        covered += 1
            if covered:
                out += bytes((red // covered, green // covered, blue // covered,
                              round(255 * covered / total)))
            else:
                out += b"\0\0\0\0"
    return bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(size: int, rgba: bytes) -> bytes:
    """A minimal RGBA PNG (8 bits per channel, no interlace)."""
    if len(rgba) != size * size * 4:
        raise IconError(f"{len(rgba)} bytes of pixels do not make a {size}x{size} RGBA image")
    stride = size * 4
    raw = b"".join(b"\0" + rgba[row * stride:(row + 1) * stride] for row in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, checked to be one."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        raise IconError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def pack_ico(pngs: Mapping[int, bytes]) -> bytes:
    """A Windows .ico holding PNG images (supported since Windows Vista)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, images = b"", b""
    for size in sizes:
        data = pngs[size]
        if png_size(data) != (size, size):
            raise IconError(f"the {size} px image is {png_size(data)}")
        if size > 256:
            raise IconError(f".ico images are at most 256 px, not {size}")
        dim = 0 if size == 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        images += data
        offset += len(data)
    return header + entries + images


def pack_icns(pngs: Mapping[int, bytes]) -> bytes:
    """A macOS .icns holding PNG images."""
    body = b""
    for size in sorted(pngs):
        kind = ICNS_TYPES.get(size)
        if kind is None:
            raise IconError(f".icns has no PNG slot for {size} px (have {sorted(ICNS_TYPES)})")
        if png_size(pngs[size]) != (size, size):
            raise IconError(f"the {size} px image is {png_size(pngs[size])}")
        body += kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def png_path(size: int, directory: Path = ICON_DIR) -> Path:
    return directory / f"lockdown-{size}.png"


def load_pngs(sizes: Sequence[int], directory: Path = ICON_DIR) -> dict[int, bytes]:
    pngs: dict[int, bytes] = {}
    for size in sizes:
        path = png_path(size, directory)
        try:
            pngs[size] = path.read_bytes()
        except OSError as exc:
            raise IconError(f"cannot read {path} ({exc.strerror}); run"
                            " 'python installers/icons.py --resources'") from None
    return pngs


def write_resources(directory: Path = ICON_DIR) -> list[Path]:
    """Regenerate the committed SVG and PNG files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "lockdown.svg"]
    written[0].write_text(svg(), encoding="utf-8")
    for size in PNG_SIZES:
        path = png_path(size, directory)
        path.write_bytes(encode_png(size, render_rgba(size, 4 if size <= 256 else 2)))
        written.append(path)
    return written


def write_platform_icons(out: Path, directory: Path = ICON_DIR) -> list[Path]:
    """Pack the committed PNGs into ``out/lockdown.ico`` and ``out/lockdown.icns``."""
    out.mkdir(parents=True, exist_ok=True)
    ico, icns = out / "lockdown.ico", out / "lockdown.icns"
    ico.write_bytes(pack_ico(load_pngs(ICO_SIZES, directory)))
    icns.write_bytes(pack_icns(load_pngs(tuple(ICNS_TYPES), directory)))
    return [ico, icns]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", action="store_true",
                        help="regenerate resources/icons/ (SVG and PNGs)")
    parser.add_argument("--out", type=Path, help="write lockdown.ico and lockdown.icns here")
    args = parser.parse_args(argv)
    if not args.resources and args.out is None:
        parser.error("nothing to do: give --resources and/or --out DIR")
    written: list[Path] = []
    try:
        if args.resources:
            written += write_resources()
        if args.out is not None:
            written += write_platform_icons(args.out)
    except IconError as exc:
        parser.exit(1, f"icons: {exc}\n")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
