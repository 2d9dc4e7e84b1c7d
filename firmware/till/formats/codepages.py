# Printer code pages for the till's receipt text.
#
# MicroPython has no `str.encode('cp858')`, so each code page is a 128-character
# string: the character at index i prints as byte 0x80 + i. Bytes 0x00-0x7F are
# ASCII in both pages. A string costs a few hundred bytes of flash and no heap
# (a dict of 128 entries would cost ~3 KB of RAM); `str.find` over 128 characters
# is fast enough for a receipt of a few thousand characters.
#
# The tables equal CPython's 'cp437' and 'cp858' codecs (tests/device/test_escpos.py
# checks this under CPython). CP858 is CP850 with the euro sign at 0xD5 in place of
# the dotless i; Epson numbers it 19 ("PC858: Euro") in ESC t n, other makers differ,
# so the index comes from the printer profile (`kassa printer profile MODEL`).

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

CP437 = (
    "ÇüéâäàåçêëèïîìÄÅ"  # 80-8F
    "ÉæÆôöòûùÿÖÜ¢£¥₧ƒ"  # 90-9F
    "áíóúñÑªº¿⌐¬½¼¡«»"  # A0-AF
    "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐"  # B0-BF
    "└┴┬├─┼╞╟╚╔╩╦╠═╬╧"  # C0-CF
    "╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀"  # D0-DF
    "αßΓπΣσµτΦΘΩδ∞φε∩"  # E0-EF
    "≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0"  # F0-FF (FF: no-break space)
)

CP858 = (
    "ÇüéâäàåçêëèïîìÄÅ"  # 80-8F
    "ÉæÆôöòûùÿÖÜø£Ø×ƒ"  # 90-9F
    "áíóúñÑªº¿®¬½¼¡«»"  # A0-AF
    "░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐"  # B0-BF
    "└┴┬├─┼ãÃ╚╔╩╦╠═╬¤"  # C0-CF
    "ðÐÊËÈ€ÍÎÏ┘┌█▄¦Ì▀"  # D0-DF (D5: euro sign)
    "ÓßÔÒõÕµþÞÚÛÙýÝ¯´"  # E0-EF
    "\u00ad±‗¾¶§÷¸°¨·¹³²■\u00a0"  # F0-FF (F0: soft hyphen, FF: no-break space)
)

# Table by the name escpos-printer-db (and the printer profile JSON) uses.
BY_NAME = {"CP437": CP437, "CP858": CP858}

_QUESTION = const(0x3F)
_LF = const(0x0A)
_DEL = const(0x7F)


def encode(text, table):
    """Encode text for a printer whose code page is `table`.

    A character the page lacks becomes '?', as python-escpos prints it, so a
    product name from head office can never stop a receipt. Control characters
    other than LF also become '?': a name holding ESC or GS would otherwise be
    read by the printer as a command.
    """
    out = bytearray(len(text))
    i = 0
    for ch in text:
        c = ord(ch)
        if c >= 0x80:
            c = table.find(ch)
            c = 0x80 + c if c >= 0 else _QUESTION
        elif (c < 0x20 and c != _LF) or c == _DEL:
            c = _QUESTION
        out[i] = c
        i += 1
    return out


def decode(data, table):
    """Bytes printed in code page `table` back to text (for tests and displays)."""
    return "".join(chr(b) if b < 0x80 else table[b - 0x80] for b in data)
