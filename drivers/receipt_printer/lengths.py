"""How long each ESC/POS command is: the documented parameter layout of every command code.

Sources (cited per entry where it matters):
  [E]  Epson ESC/POS Command Reference for TM printers / ESC/POS Application Programming Guide
       (command pages "ESC SP" .. "FS q"; the TM-T88III technical reference Ver. 10.01 has the same
       layouts, e.g. DLE DC4 fn=2 on p. 385).
  [D]  Tally Dascom DT-210/230 Programming Guide V1.1 (DLE DC4 fn=2 a b, fn=8 d1..d7) and the
       Citizen CT-S300 command reference (DLE DC4 fn=8).
  [P]  python-escpos 3.1 ``src/escpos/constants.py`` and ``escpos.py``: commands it emits that
       the Epson reference does not list (GS | n density, ESC B n t buzzer, ESC A n / ESC + n
       line spacing, ESC c 5 n panel buttons, GS ( L ``_image_send_graphics_data``).

A rule gets the buffer (starting at the prefix) and returns the command's total length in bytes,
None while the bytes that decide the length have not arrived, or raises CommandError.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.base.errors import FrameError
from drivers.receipt_printer.constants import CAN, DLE, ESC, FF, FS, GS

#: the longest command the decoder waits for (a GS 8 L / FS q / GS v 0 header can claim gigabytes)
MAX_COMMAND = 1 << 21

PREFIXES = frozenset((ESC, GS, FS, DLE))
SINGLE_BYTE: dict[int, str] = {FF: "FF (print in page mode)", CAN: "CAN (cancel page-mode data)"}

Rule = Callable[[bytes], int | None]


class CommandError(FrameError):
    """A command the printer cannot use; ``skip`` bytes of it are discarded.

    ``unknown`` marks an unknown command code: its parameters are not known, so a stream decoder
    also drops the non-printable bytes that follow it (resynchronises).
    """

    def __init__(self, message: str, skip: int, *, unknown: bool = False) -> None:
        super().__init__(message)
        self.skip = skip
        self.unknown = unknown


def _fixed(count: int) -> Rule:
    return lambda buf: 2 + count


def _at(buf: bytes, i: int) -> int | None:
    return buf[i] if len(buf) > i else None


def _word(buf: bytes, i: int, size: int = 2) -> int | None:
    return int.from_bytes(buf[i:i + size], "little") if len(buf) >= i + size else None


def _bounded(total: int, header: int, what: str) -> int:
    if total > MAX_COMMAND:
        raise CommandError(f"{what}: declared length {total} exceeds {MAX_COMMAND}", header)
    return total


def _sub(table: dict[int, int], what: str) -> Rule:
    """A sub-code byte after the opcode picks the parameter count (ESC c 3 n, GS z 0 t1 t2, ...)."""
    def rule(buf: bytes) -> int | None:
        sub = _at(buf, 2)
        if sub is None:
            return None
        if sub not in table:
            raise CommandError(f"{what}: unknown sub-command 0x{sub:02X}", 3 if sub >= 0x20 else 2)
        return 3 + table[sub]
    return rule


#: the ( x function groups the reference documents: ESC ( A/Y, GS ( A..z, FS ( A/C/E/L/e [E]
_PAREN = {ESC: b"AY", GS: b"ACDEHKLMNPQkz", FS: b"ACELe"}


def _p_length(buf: bytes) -> int | None:
    """ESC ( / GS ( / FS ( x pL pH d1..dk: k = pL + 256 pH [E]."""
    if len(buf) >= 3 and buf[2] not in _PAREN[buf[0]]:
        raise CommandError(f"unknown command {command_name(buf[:3])}", 3 if buf[2] >= 0x20 else 2, unknown=True)
    k = _word(buf, 3)
    if k is None:
        return None
    if buf[1] == 0x28 and buf[0] == GS and buf[2] in (0x6B, 0x4C) and k < 2:
        if len(buf) < 5 + k:
            return None
        raise CommandError(f"GS ( {chr(buf[2])}: length {k} leaves no cn/fn", 5 + k)
    return 5 + k


def _gs_8(buf: bytes) -> int | None:
    """GS 8 L p1 p2 p3 p4 m fn ...: k = p1 + p2*256 + p3*65536 + p4*16777216 [E]."""
    if len(buf) >= 3 and buf[2] != 0x4C:
        raise CommandError(f"unknown command GS 8 0x{buf[2]:02X}", 3 if buf[2] >= 0x20 else 2, unknown=True)
    k = _word(buf, 3, 4)
    if k is None:
        return None
    if k < 2:
        if len(buf) < 7 + k:
            return None
        raise CommandError(f"GS 8 L: length {k} leaves no m/fn", 7 + k)
    return _bounded(7 + k, 7, "GS 8 L")


def _esc_star(buf: bytes) -> int | None:
    """ESC * m nL nH d1..dk: k = n (m = 0, 1) or 3n (m = 32, 33) [E]."""
    m, n = _at(buf, 2), _word(buf, 3)
    if m is None or n is None:
        return None
    if m not in (0, 1, 32, 33):
        raise CommandError(f"ESC *: bad mode {m}", 5)
    return 5 + n * (3 if m >= 32 else 1)


def _esc_amp(buf: bytes) -> int | None:
    """ESC & y c1 c2 [x d1..d(y*x)]...: one x and y*x bytes per character c1..c2 [E]."""
    y, c1, c2 = _at(buf, 2), _at(buf, 3), _at(buf, 4)
    if y is None or c1 is None or c2 is None:
        return None
    if not 32 <= c1 <= c2 <= 126 or not 1 <= y <= 3:
        raise CommandError(f"ESC &: bad definition y={y} c1={c1} c2={c2}", 5)
    i = 5
    for _ in range(c2 - c1 + 1):
        x = _at(buf, i)
        if x is None:
            return None
        i += 1 + y * x
    return i


def _esc_d(buf: bytes) -> int | None:
    """ESC D n1..nk NUL: up to 32 tab positions [E]."""
    end = buf.find(0, 2, 2 + 33)
    if end >= 0:
        return end + 1
    if len(buf) >= 2 + 33:
        raise CommandError("ESC D: more than 32 tab positions", 2)
    return None


def _gs_star(buf: bytes) -> int | None:
    """GS * x y d1..d(x*y*8): define downloaded bit image [E]."""
    x, y = _at(buf, 2), _at(buf, 3)
    return None if x is None or y is None else 4 + x * y * 8


def _gs_k(buf: bytes) -> int | None:
    """GS k m: format A (m 0..6) data NUL; format B (m 65..79) n d1..dn [E]; [P] BARCODE_TYPE_A/B."""
    m = _at(buf, 2)
    if m is None:
        return None
    if m <= 6:
        end = buf.find(0, 3, 3 + 256)
        if end >= 0:
            return end + 1
        if len(buf) >= 3 + 256:
            raise CommandError("GS k: format A data without NUL", 3)
        return None
    if 65 <= m <= 79:
        n = _at(buf, 3)
        return None if n is None else 4 + n
    raise CommandError(f"GS k: bad system {m}", 3)


def _gs_v(buf: bytes) -> int | None:
    """GS v 0 m xL xH yL yH d1..dk: k = (xL + 256 xH) * (yL + 256 yH) [E]; [P] S_RASTER_N."""
    if len(buf) >= 3 and buf[2] != 0x30:
        raise CommandError(f"unknown command GS v 0x{buf[2]:02X}", 3 if buf[2] >= 0x20 else 2, unknown=True)
    x, y = _word(buf, 4), _word(buf, 6)
    if x is None or y is None:
        return None
    return _bounded(8 + x * y, 8, "GS v 0")


def _gs_cut(buf: bytes) -> int | None:
    """GS V m [n]: function A m = 0, 1, 48, 49; B 65, 66 n; C 97, 98 n; D 103, 104 n [E]."""
    m = _at(buf, 2)
    if m is None:
        return None
    if m in (0, 1, 48, 49):
        return 3
    if m in (65, 66, 97, 98, 103, 104):
        return 4
    raise CommandError(f"GS V: bad mode 0x{m:02X}", 3)


def _gs_c(buf: bytes) -> int | None:
    """GS C 0 n m / GS C 1 aL aH bL bH n r / GS C 2 nL nH / GS C ; sa;sb;sn;sr;sc; (counter) [E]."""
    sub = _at(buf, 2)
    if sub == 0x3B:
        i = 3
        for _ in range(5):
            end = buf.find(b";", i, i + 6)
            if end < 0:
                if len(buf) >= i + 6:
                    raise CommandError("GS C ;: a field longer than 5 digits", 3)
                return None
            i = end + 1
        return i
    return _sub({0x30: 2, 0x31: 6, 0x32: 2}, "GS C")(buf)


def _fs_q(buf: bytes) -> int | None:
    """FS q n [xL xH yL yH d1..d(x*y*8)] x n: define NV bit images [E]."""
    n = _at(buf, 2)
    if n is None:
        return None
    i = 3
    for _ in range(n):
        x, y = _word(buf, i), _word(buf, i + 2)
        if x is None or y is None:
            return None
        i = _bounded(i + 4 + x * y * 8, 3, "FS q")
    return i


def _fs_g(buf: bytes) -> int | None:
    """FS g 1 m a1..a4 nL nH d1..dk (write NV user memory) / FS g 2 m a1..a4 nL nH (read) [E]."""
    sub = _at(buf, 2)
    if sub is None:
        return None
    if sub not in (0x31, 0x32):
        raise CommandError(f"FS g: unknown function 0x{sub:02X}", 3 if sub >= 0x20 else 2)
    k = _word(buf, 8)
    if k is None:
        return None
    return 10 + (k if sub == 0x31 else 0)


def _dle_eot(buf: bytes) -> int | None:
    """DLE EOT n (n = 1..4); n = 7, 8 take one more byte a [E]."""
    n = _at(buf, 2)
    if n is None:
        return None
    if n in (1, 2, 3, 4):
        return 3
    if n in (7, 8):
        return 4
    raise CommandError(f"DLE EOT: bad n={n}", 3)


#: DLE DC4 fn: 1 m t (pulse), 2 a b (power-off), 3 a n r t1 t2 (buzzer), 7 m (status), 8 d1..d7 (clear) [E][D]
_DC4 = {1: 2, 2: 2, 3: 5, 7: 1, 8: 7}

_FIXED: dict[bytes, int] = {
    # ESC: [E] unless marked
    b"\x1b\x0c": 0, b"\x1b ": 1, b"\x1b!": 1, b"\x1b$": 2, b"\x1b%": 1, b"\x1b-": 1, b"\x1b2": 0,
    b"\x1b3": 1, b"\x1b<": 0, b"\x1b=": 1, b"\x1b?": 1, b"\x1b@": 0, b"\x1bE": 1, b"\x1bG": 1,
    b"\x1bJ": 1, b"\x1bK": 1, b"\x1bL": 0, b"\x1bM": 1, b"\x1bR": 1, b"\x1bS": 0, b"\x1bT": 1,
    b"\x1bU": 1, b"\x1bV": 1, b"\x1bW": 8, b"\x1b\\": 2, b"\x1ba": 1, b"\x1bd": 1, b"\x1be": 1,
    b"\x1bf": 2, b"\x1bi": 0, b"\x1bm": 0, b"\x1bp": 3, b"\x1br": 1, b"\x1bt": 1, b"\x1bu": 1,
    b"\x1bv": 0, b"\x1b{": 1,
    b"\x1bA": 1, b"\x1b+": 1, b"\x1bB": 2,  # [P] LINESPACING_FUNCS 60/360, BUZZER
    # GS
    b"\x1d!": 1, b"\x1d$": 2, b"\x1d/": 1, b"\x1d:": 0, b"\x1dB": 1, b"\x1dE": 1, b"\x1dH": 1,
    b"\x1dI": 1, b"\x1dL": 2, b"\x1dP": 2, b"\x1dT": 1, b"\x1dW": 2, b"\x1d\\": 2, b"\x1d^": 3,
    b"\x1da": 1, b"\x1db": 1, b"\x1dc": 0, b"\x1df": 1, b"\x1dh": 1, b"\x1dj": 1, b"\x1dr": 1,
    b"\x1dw": 1, b"\x1d<": 0,
    b"\x1d|": 1,  # [P] TXT_STYLE["density"]
    # FS
    b"\x1c!": 1, b"\x1c&": 0, b"\x1c-": 1, b"\x1c.": 0, b"\x1c?": 2, b"\x1cC": 1, b"\x1cS": 2,
    b"\x1cW": 1, b"\x1cp": 2, b"\x1c2": 2 + 72,
    # DLE
    b"\x10\x05": 1,
}

RULES: dict[bytes, Rule] = {
    **{code: _fixed(count) for code, count in _FIXED.items()},
    b"\x1b(": _p_length, b"\x1d(": _p_length, b"\x1c(": _p_length,
    b"\x1b*": _esc_star, b"\x1b&": _esc_amp, b"\x1bD": _esc_d,
    b"\x1bc": _sub({0x30: 1, 0x31: 1, 0x33: 1, 0x34: 1, 0x35: 1}, "ESC c"),
    b"\x1d8": _gs_8, b"\x1d*": _gs_star, b"\x1dk": _gs_k, b"\x1dv": _gs_v, b"\x1dV": _gs_cut,
    b"\x1dC": _gs_c, b"\x1dg": _sub({0x30: 3, 0x32: 3}, "GS g"), b"\x1dz": _sub({0x30: 2}, "GS z"),
    b"\x1cq": _fs_q, b"\x1cg": _fs_g,
    b"\x10\x04": _dle_eot, b"\x10\x14": _sub(_DC4, "DLE DC4"),
}

_PREFIX_NAMES = {ESC: "ESC", GS: "GS", FS: "FS", DLE: "DLE"}
_CONTROL_NAMES = {0x04: "EOT", 0x05: "ENQ", 0x0C: "FF", 0x14: "DC4"}


def command_name(raw: bytes) -> str:
    """``ESC p``, ``GS ( k``, ``DLE EOT``...: the command's name as the Epson reference writes it."""
    parts = [_PREFIX_NAMES.get(raw[0], f"0x{raw[0]:02X}")]
    for b in raw[1:3]:
        parts.append(_CONTROL_NAMES.get(b, chr(b) if 0x21 <= b < 0x7F else "SP" if b == 0x20 else f"0x{b:02X}"))
        if b != 0x28 and b != 0x38:
            break
    return " ".join(parts)
