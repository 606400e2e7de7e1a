"""Pictures the site draws itself: QR codes as SVG paths and the favicons/app icons as PNG."""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import segno
from PIL import Image, ImageColor, ImageDraw, ImageFilter

QR_ERROR = "q"  # error correction level Q, as the original link display used
QR_QUIET = 4  # modules of quiet zone the QR specification asks for
FAVICON_COUNT = 12  # random favicon variants (the original shipped 18 hand-made ones)
FAVICON_PX = 32
APP_ICON_PX = (192, 512)  # what browsers want for an installable web app
_FALLBACK_RGB = (172, 171, 171)  # the original's text grey, for colours PIL cannot read


@dataclass(frozen=True, slots=True)
class QrCode:
    """A QR code as one SVG path of dark modules (unit squares), with its size in modules."""

    text: str
    size: int  # modules per side, without the quiet zone
    path: str  # SVG path data, one "M x y h n v 1 h -n z" per run of dark modules

    @property
    def view_box(self) -> str:
        """The SVG viewBox that includes the quiet zone."""
        side = self.size + 2 * QR_QUIET
        return f"{-QR_QUIET} {-QR_QUIET} {side} {side}"


def render_qr(text: str) -> QrCode:
    """Encode a text (a URL) as a QR code at error level Q and trace its dark modules."""
    matrix = segno.make(text, error=QR_ERROR, boost_error=False).matrix
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return QrCode(text=text, size=len(matrix), path="".join(runs))


def render_qr_matrix(path: str, size: int) -> list[list[bool]]:
    """Read a traced QR path back into its module matrix (the inverse of render_qr)."""
    matrix = [[False] * size for _ in range(size)]
    for part in path.split("z"):
        if not part:
            continue
        move, _, rest = part.partition("h")
        x, y = (int(v) for v in move.lstrip("M").split())
        for dx in range(int(rest.split("v")[0])):
            matrix[y][x + dx] = True
    return matrix


def _rgb(color: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(color)[:3]
    except ValueError:
        return _FALLBACK_RGB


def render_icon(colors: tuple[str, ...], variant: int, px: int) -> bytes:
    """Draw one ghostly glow icon as PNG bytes: blurred discs in the role colours on black."""
    side = 128  # a blurred glow scales well: draw once at 128 px, then resize to any size
    img = Image.new("RGB", (side, side), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    rgbs = [_rgb(c) for c in colors] or [_FALLBACK_RGB]
    for k, rgb in enumerate(rgbs):
        angle = 2 * math.pi * (variant / FAVICON_COUNT + k / len(rgbs))
        cx = side / 2 + math.cos(angle) * side * 0.14
        cy = side / 2 + math.sin(angle) * side * 0.14
        r = side * (0.22 + 0.06 * ((variant + k) % 3))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb)
    img = img.filter(ImageFilter.GaussianBlur(side * 0.06))
    out = io.BytesIO()
    img.resize((px, px), Image.Resampling.BICUBIC).save(out, format="PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def render_icons(colors: tuple[str, ...]) -> dict[str, bytes]:
    """Draw every icon the site links: favicon variants and the web app icons, by file name."""
    icons = {
        f"favicon-{i:02d}.png": render_icon(colors, i, FAVICON_PX) for i in range(FAVICON_COUNT)
    }
    for px in APP_ICON_PX:
        icons[f"icon-{px}.png"] = render_icon(colors, 0, px)
    return icons
