# What every character display shares: fold the engine's lines into the
# display's character set, fit them to its columns and rows, and send only what
# changed. The LCD, the pole display and the sim's text display build on it.
from till.formats.text import fit_lines, fold_ascii


class LineDisplay:
    """Shared by the displays below: fold, fit, and send only what changed."""

    def __init__(self, cols, rows):
        self.cols = cols
        self.rows = rows
        self.lines = None  # what the display shows now (after fitting)
        self.error = None  # the last write error, for the status screen

    # How a display turns text into what its character set has; one character
    # in, one or more out (the fitting comes after, so "EUR" cannot overflow).
    _fold = staticmethod(fold_ascii)

    def _fitted(self, lines):
        fold = self._fold
        folded = []
        for line in lines:
            if isinstance(line, tuple):
                folded.append((fold(line[0]), fold(line[1])))
            else:
                folded.append(fold(line))
        return fit_lines(folded, self.cols, self.rows)

    def show(self, lines):
        fitted = self._fitted(lines)
        if fitted == self.lines:
            return
        try:
            self._send(fitted)
        except OSError as exc:  # unplugged: retry with the next change
            self.error = exc
            self.lines = None
            return
        self.error = None
        self.lines = fitted
