"""A colour-bar test pattern with a moving box and a burned-in label, as raw YUV 4:2:0 planes.

Pure Python on ``bytes``/``bytearray`` (no numpy: neither aiortc nor PyAV requires it), so
the synthetic cameras cost little more than copying one luma plane per frame.
"""

from __future__ import annotations

from typing import Final

# ITU-R BT.601 limited-range (Y 16-235, Cb/Cr 16-240) values of the 75 % EBU colour bars,
# left to right: white, yellow, cyan, green, magenta, red, blue.
BARS: Final[tuple[tuple[int, int, int], ...]] = (
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
)
BLACK: Final = 16
GREY: Final = 64
WHITE: Final = 235
NEUTRAL: Final = 128

# 5x7 bitmap font: one string of 5 bits per row, top to bottom.
FONT: Final[dict[str, tuple[str, ...]]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "B": ("11110", "10001", "10001", "11110", "10001", "10001", "11110"),
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11100", "10010", "10001", "10001", "10001", "10010", "11100"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "F": ("11111", "10000", "10000", "11110", "10000", "10000", "10000"),
    "G": ("01110", "10001", "10000", "10111", "10001", "10001", "01111"),
    "H": ("10001", "10001", "10001", "11111", "10001", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "J": ("00111", "00010", "00010", "00010", "00010", "10010", "01100"),
    "K": ("10001", "10010", "10100", "11000", "10100", "10010", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "N": ("10001", "10001", "11001", "10101", "10011", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "P": ("11110", "10001", "10001", "11110", "10000", "10000", "10000"),
    "Q": ("01110", "10001", "10001", "10001", "10101", "10010", "01101"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
    "V": ("10001", "10001", "10001", "10001", "10001", "01010", "00100"),
    "W": ("10001", "10001", "10001", "10101", "10101", "10101", "01010"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "Y": ("10001", "10001", "10001", "01010", "00100", "00100", "00100"),
    "Z": ("11111", "00001", "00010", "00100", "01000", "10000", "11111"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    "#": ("01010", "01010", "11111", "01010", "11111", "01010", "01010"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "/": ("00000", "00001", "00010", "00100", "01000", "10000", "00000"),
    "_": ("00000", "00000", "00000", "00000", "00000", "00000", "11111"),
    " ": ("00000", "00000", "00000", "00000", "00000", "00000", "00000"),
}
# Characters outside the font are drawn as this glyph, so a label never fails to render.
UNKNOWN: Final = ("11111", "10001", "10001", "10001", "10001", "10001", "11111")
GLYPH_COLUMNS: Final = 5
GLYPH_ROWS: Final = 7
CELL_COLUMNS: Final = GLYPH_COLUMNS + 1  # one column of spacing


def check_size(width: int, height: int) -> None:
    """Raise ``ValueError`` unless ``width`` x ``height`` can hold the pattern in yuv420p."""
    if width % 2 or height % 2 or width < 64 or height < 48:
        raise ValueError(f"a yuv420p test pattern needs an even size of at least 64x48, not {width}x{height}")


class ColourBars:
    """Renders frame ``index`` of the pattern into the three planes of a yuv420p image.

    Layout, top to bottom: the seven colour bars (two thirds of the height), a grey band in
    which a white square moves one step per frame, and a black band carrying ``label``.
    ``strides`` are the bytes per row of the Y, U and V planes (PyAV pads rows).
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        strides: tuple[int, int, int] | None = None,
        label_length: int = 32,
    ) -> None:
        check_size(width, height)
        self.width = width
        self.height = height
        y_stride, u_stride, v_stride = strides or (width, width // 2, width // 2)
        self.strides = (y_stride, u_stride, v_stride)
        self.bars_height = (height * 2 // 3) & ~1
        self.band_top = self.bars_height
        # a square of a sixth of the height, but narrow frames leave it room to move
        self.box_size = min(height // 6, width // 4) & ~1
        self.label_top_band = self.band_top + self.box_size
        # Text scale: as large as fits both the label band and the width.
        band = height - self.label_top_band
        self.scale = max(1, min(band // (GLYPH_ROWS + 3), (width - 4) // (CELL_COLUMNS * label_length)))
        self.label_x = 2 * self.scale
        self.label_y = self.label_top_band + (band - GLYPH_ROWS * self.scale) // 2
        self.label_length = label_length
        # On tiny frames even the smallest text is wider than the frame: it is cut off.
        self.visible_chars = min(label_length, (width - self.label_x) // (CELL_COLUMNS * self.scale))
        self.step = max(2, (width // 120) & ~1)
        self._y = self._luma()
        self._u = self._chroma(1, u_stride)
        self._v = self._chroma(2, v_stride)
        self._white_box = bytes([WHITE]) * self.box_size
        self._segments: dict[tuple[str, int], bytes] = {}

    def bar_at(self, x: int) -> int:
        """Index into :data:`BARS` of the bar covering column ``x``."""
        return x * len(BARS) // self.width

    def box_x(self, index: int) -> int:
        """Left column of the moving square in frame ``index`` (always even)."""
        travel = self.width - self.box_size
        return (index * self.step) % travel & ~1

    @property
    def planes(self) -> tuple[bytes, bytes, bytes]:
        """The Y, U and V planes without the square and the label (U and V never change)."""
        return self._y, self._u, self._v

    def draw(self, y_plane: bytearray | memoryview, index: int, label: str) -> None:
        """Draw frame ``index``'s square and ``label`` into a copy of the background Y plane.

        The square and the label sit on neutral-chroma bands, so only luma changes.
        """
        stride = self.strides[0]
        x = self.box_x(index)
        for row in range(self.band_top, self.band_top + self.box_size):
            start = row * stride + x
            y_plane[start : start + self.box_size] = self._white_box
        self._draw_label(y_plane, label[: self.label_length])

    def render(self, index: int, label: str) -> tuple[bytes, bytes, bytes]:
        """The Y, U and V planes of frame ``index`` with ``label`` burned in."""
        y_plane = bytearray(self._y)
        self.draw(y_plane, index, label)
        return bytes(y_plane), self._u, self._v

    def _luma(self) -> bytes:
        stride = self.strides[0]
        pad = bytes(stride - self.width)
        bars = bytes(BARS[self.bar_at(x)][0] for x in range(self.width)) + pad
        grey = bytes([GREY]) * self.width + pad
        black = bytes([BLACK]) * self.width + pad
        return (
            bars * self.bars_height
            + grey * self.box_size
            + black * (self.height - self.bars_height - self.box_size)
        )

    def _chroma(self, component: int, stride: int) -> bytes:
        half_width = self.width // 2
        pad = bytes(stride - half_width)
        bars = bytes(BARS[self.bar_at(2 * x)][component] for x in range(half_width)) + pad
        neutral = bytes([NEUTRAL]) * half_width + pad
        return bars * (self.bars_height // 2) + neutral * ((self.height - self.bars_height) // 2)

    def _segment(self, char: str, row: int) -> bytes:
        key = (char, row)
        segment = self._segments.get(key)
        if segment is None:
            bits = FONT.get(char, UNKNOWN)[row] + "0"
            segment = b"".join(bytes([WHITE if bit == "1" else BLACK]) * self.scale for bit in bits)
            self._segments[key] = segment
        return segment

    def _draw_label(self, y_plane: bytearray | memoryview, label: str) -> None:
        stride = self.strides[0]
        for row in range(GLYPH_ROWS):
            line = b"".join(self._segment(char, row) for char in label)[: self.width - self.label_x]
            for repeat in range(self.scale):
                start = (self.label_y + row * self.scale + repeat) * stride + self.label_x
                y_plane[start : start + len(line)] = line


def read_label(y_plane: bytes, pattern: ColourBars, length: int, *, stride: int | None = None) -> str:
    """Read back ``length`` characters of the burned-in label (the inverse of drawing it).

    Samples the centre of every font pixel, so it also reads a label after lossless
    encoding or a limited-to-full range conversion; unknown cells read as ``"?"``.
    """
    stride = stride or pattern.strides[0]
    glyphs = {bitmap: char for char, bitmap in FONT.items()}
    threshold = (WHITE + BLACK) // 2
    text = []
    for index in range(length):
        rows = []
        for row in range(GLYPH_ROWS):
            y = pattern.label_y + row * pattern.scale + pattern.scale // 2
            bits = ""
            for column in range(GLYPH_COLUMNS):
                x = pattern.label_x + (index * CELL_COLUMNS + column) * pattern.scale + pattern.scale // 2
                bits += "1" if y_plane[y * stride + x] > threshold else "0"
            rows.append(bits)
        text.append(glyphs.get(tuple(rows), "?"))
    return "".join(text)
