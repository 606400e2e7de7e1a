"""The contact sheet of selfie candidates: one JPEG grid, each tile numbered and labelled with its
seed, so an artist can choose at a glance and pick by number."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SHEET_TILE = (128, 256)  # a tile's side: the network's resolution, kept within these bounds
SHEET_GAP = 8  # pixels around and between tiles
SHEET_BACKGROUND = (24, 24, 24)
SHEET_INK = (240, 240, 240)
SHEET_QUALITY = 85  # JPEG quality of the contact sheet (not published)


def plan_sheet_grid(n: int) -> tuple[int, int]:
    """Return the contact sheet's (columns, rows) for n candidates: as square as it gets."""
    columns = math.ceil(math.sqrt(n))
    return columns, math.ceil(n / columns)


def plan_sheet_tile(resolution: int) -> tuple[int, int]:
    """Return a sheet tile's (side, label band height) for selfies of ``resolution`` pixels."""
    side = min(SHEET_TILE[1], max(SHEET_TILE[0], resolution))
    return side, side // 8


def render_contact_sheet(images: Sequence[np.ndarray], seeds: Sequence[int]) -> bytes:
    """Return a JPEG grid of the candidates, each tile labelled with its number and seed."""
    columns, rows = plan_sheet_grid(len(images))
    side, band = plan_sheet_tile(int(images[0].shape[0]))
    sheet = Image.new(
        "RGB",
        (SHEET_GAP + columns * (side + SHEET_GAP), SHEET_GAP + rows * (side + band + SHEET_GAP)),
        SHEET_BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    number_font = ImageFont.load_default(size=band * 0.8)
    seed_font = ImageFont.load_default(size=band * 0.55)
    for i, (pixels, seed) in enumerate(zip(images, seeds, strict=True)):
        x = SHEET_GAP + (i % columns) * (side + SHEET_GAP)
        y = SHEET_GAP + (i // columns) * (side + band + SHEET_GAP)
        tile = Image.fromarray(
            np.ascontiguousarray(pixels.squeeze(2) if pixels.shape[2] == 1 else pixels)
        )
        sheet.paste(tile.convert("RGB").resize((side, side), Image.Resampling.LANCZOS), (x, y))
        middle = y + side + band // 2
        draw.text((x + 2, middle), str(i + 1), fill=SHEET_INK, font=number_font, anchor="lm")
        label = f"seed {seed}"
        draw.text((x + side - 2, middle), label, fill=SHEET_INK, font=seed_font, anchor="rm")
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=SHEET_QUALITY, optimize=True)
    return out.getvalue()


def format_png(pixels: np.ndarray) -> bytes:
    """Return a selfie's pixels (uint8 [H, W, 3] or grey [H, W, 1]) as lossless PNG bytes."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(out, "PNG")
    return out.getvalue()
