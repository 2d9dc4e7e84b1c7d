# Fixed-width text: fitting a line (or a left/right pair such as a name and its
# price) into a display's or the paper's columns, and folding letters a
# character set lacks into ASCII. Shared by the receipt layout, the ESC/POS
# builder and the displays, so one rule decides what is cut: the left part,
# never the price.

def fit_columns(left, right, width):
    """`left` and `right` on one line of exactly `width` characters.

    At least one space separates them; `left` is cut short when it does not fit.
    A `right` wider than the line (never a price) is itself cut to `width`.
    """
    room = width - len(right) - 1
    if room < 0:
        return right[:width]
    left = left[:room]
    return left + " " * (width - len(left) - len(right)) + right


# Latin letters with diacritics -> their base letter, for displays whose
# character ROM is ASCII (pole displays in their default mode). The LCD maps the
# few its ROM has (a-, o-, u-umlaut, sharp s) before falling back to this.
_FOLD_FROM = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŠšŽž"
_FOLD_TO = "AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyySsZz"
_FOLD_WIDE = {"ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "€": "EUR",
              "£": "GBP", "\u2013": "-", "\u2014": "-", "\u00a0": " "}


def fold_ascii(text, keep=""):
    """`text` in printable ASCII and the characters of `keep` (a printer code
    page's upper half, till/formats/codepages.py): any other letter folded
    (accents dropped, ß as ss, € as EUR), anything else '?'. Receipts fold
    before they fit a line, so "EUR" is counted and a price never cut."""
    for ch in text:
        if not (" " <= ch <= "~" or (ch > "~" and ch in keep)):
            break
    else:
        return text  # the usual case: nothing to do, nothing allocated
    out = []
    for ch in text:
        if " " <= ch <= "~" or (ch > "~" and ch in keep):
            out.append(ch)
            continue
        i = _FOLD_FROM.find(ch)
        if i >= 0:
            out.append(_FOLD_TO[i])
        else:
            out.append(_FOLD_WIDE.get(ch, "?"))
    return "".join(out)


def fit(line, width):
    """One display line of exactly `width` characters."""
    if isinstance(line, tuple):
        return fit_columns(line[0], line[1], width)
    line = line[:width]
    return line + " " * (width - len(line))


def fit_lines(lines, width, rows):
    """Exactly `rows` lines of `width` characters; missing lines are blank."""
    out = []
    for r in range(rows):
        out.append(fit(lines[r] if r < len(lines) else "", width))
    return out
