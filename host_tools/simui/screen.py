"""The sim till's screen: keypad on the keyboard, display, receipts, drawer,
printer switches, all in one terminal (prompt_toolkit, full screen).

One key press is one till key, as the board file's keymap says (Enter is
TOTAL); each press becomes one `key NAME` command to the till. Function keys
work the hardware around the till: F2 opens the barcode prompt (a barcode
pasted anywhere is scanned at once: terminals mark a paste, so a pasted code
is never read as key presses; digits faster than fingers, from a scanner that
types, are a scan too), F5-F8 switch the printer's paper, cover and power, F9
closes the drawer, PgUp/PgDn scroll the receipt, F10 (or Ctrl-C, Ctrl-D) ends
the run. With --repl-port the till is a SerialTill (serialtill.py): its link
and MicroPython's REPL on one port; F3 restarts it once it has handed that
port to mpremote.
"""
from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.data_structures import Point
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import ConditionalContainer, HSplit, Layout, VSplit, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.widgets import Frame

from till.formats import identity

from host_tools.provision import sim
from host_tools.simui.burst import MAX_DIGITS, Burst
from host_tools.simui.paper import PNG_PATTERN, PaperWatcher
from host_tools.simui.serialtill import SerialTill
from host_tools.simui.tillproc import DisplayReader, Frame as DisplayFrame, TillProcess

# A barcode as a scanner sends it: printable ASCII, no spaces, at most the
# sim scanner's max_len.
_BARCODE = re.compile(r"[!-~]{1,%d}" % MAX_DIGITS)
_KEY_LABELS = {"\r": "Enter"}
_NAME_LABELS = {".": "point"}
HARDWARE_KEYS = (("F2", "scan barcode"), ("F5", "paper out/in"), ("F6", "paper low/ok"),
                 ("F7", "cover"), ("F8", "printer on/off"), ("F9", "shut drawer"),
                 ("F10", "quit"), ("PgUp/PgDn", "receipt"))
RESTART_KEY = ("F3", "restart the till")  # with --repl-port: a board's reset button
# The screen fits a classic 80x24 terminal: the display, the drawer and
# printer, and the key legend on the left (30 columns), the receipt's 48
# columns in a frame on the right, the hardware keys below.
MIN_COLS, MIN_ROWS = 80, 24
_LEFT_COLS = 30
_STOP_TIMEOUT_S = 30.0  # the till's last receipts print before it stops
_MAINTENANCE = "Maintenance:"  # the till's display as it hands its port to the REPL


def legend(keymap: dict[str, str]) -> list[tuple[str, str]]:
    """(key on the keyboard, till key) for the screen, from the board's keymap."""
    rows = [("0-9", "digits")]
    for ch, name in keymap.items():
        if ch == "\n":
            continue  # Enter is listed once, as "\r"
        rows.append((_KEY_LABELS.get(ch, ch), _NAME_LABELS.get(name, name)))
    return rows


def _two_columns(pairs: list[tuple[str, str]], width: int) -> list[str]:
    cells = [f"{k:>5} {v}" for k, v in pairs]  # "Enter TOTAL" the widest
    half = width // 2
    return [(cells[i].ljust(half) + (cells[i + 1] if i + 1 < len(cells) else "")).rstrip()
            for i in range(0, len(cells), 2)]


def _wrapped(cells: list[str], width: int) -> list[str]:
    lines = [""]
    for cell in cells:
        if lines[-1] and len(lines[-1]) + 3 + len(cell) > width:
            lines.append("")
        lines[-1] += ("   " if lines[-1] else " ") + cell
    return lines


class SimScreen:
    """The screen of one sim till: build, then `await run()` until F10."""

    def __init__(self, root: Path, till: TillProcess, board: dict[str, Any],
                 engine_name: str, set_clock: bool = True) -> None:
        self.root = root
        self.till = till
        keypad = board["KEYPAD"]["keymap"]
        self.keymap = dict(keypad)
        self.cols = board["DISPLAY"]["cols"]
        rows = board["DISPLAY"]["rows"]
        self.reader = DisplayReader(self.cols, rows)
        self.display = [""] * rows
        link = dict(board.get("LINK") or {})
        if till.link_port is not None:
            link["port"] = till.link_port
        self.link = (f"{link.get('host', '127.0.0.1')}:{link['port']}"
                     if link.get("kind") == "tcp" and "port" in link else "none")
        self._link_title = "gateway link"
        self.serial = till if isinstance(till, SerialTill) else None
        hardware = list(HARDWARE_KEYS)
        if self.serial is not None:  # one line for the gateway and mpremote, as an ESP32's
            self.link = self.serial.url.removeprefix("socket://")
            self._link_title = "link+REPL"
            hardware.insert(1, RESTART_KEY)
        self.engine_name = engine_name
        try:
            self.till_id = identity.read(str(root / identity.IDENTITY_FILE))[0]
        except identity.IdentityError:
            self.till_id = "(not provisioned)"  # the till itself says what to do
        self.set_clock = set_clock
        self.paper = PaperWatcher(root / "printer.bin")
        paper = sim.paper_of(root)
        if paper is not None:  # a printer provisioned by `kassa sim init --printer`
            self.paper.columns, self.paper.width_dots = paper
        self.paper_state = "ok"
        self.cover_open = False
        self.printer_on = True
        self.drawer_open = False
        self._pulses_seen = 0
        self.receipt_back = 0  # lines scrolled back from the receipt's end (PgUp)
        self._receipt_rows = 0
        self._receipt_text = ""
        self.burst = Burst()
        self._burst_timer: asyncio.TimerHandle | None = None
        self.scanning: str | None = None  # the barcode being typed at the prompt
        self.note = "Sign on: cashier number, s (SIGN), PIN, Enter"
        self.console: deque[str] = deque(maxlen=2)
        # What the till said besides its display: the last lines, shown again
        # once the screen is gone (a crash report, what waits to print).
        self.said: deque[str] = deque(maxlen=40)
        self._said_count = 0  # lines said in all
        self._said_at_stop = 0  # of them, before F10
        self.stopping = False
        self.ended: int | None = None
        self._legend = _two_columns(legend(self.keymap), _LEFT_COLS)
        self._hardware = _wrapped([f"{k} {v}" for k, v in hardware], MIN_COLS - 1)
        self.app: Application[int | None] = Application(
            layout=self._layout(), key_bindings=self._bindings(), full_screen=True,
            mouse_support=False, refresh_interval=None)

    # ---- what is drawn -------------------------------------------------------

    def _title(self) -> StyleAndTextTuples:
        return [("reverse", f" Kassa sim till {self.till_id} | {self.engine_name} | "
                            f"{self._link_title} {self.link}".ljust(300))]

    def _state(self) -> StyleAndTextTuples:
        drawer = "OPEN (F9 closes it)" if self.drawer_open else "closed"
        power = "on" if self.printer_on else "OFF"
        lines = [f"Drawer   {drawer}",
                 f"Printer  {power}, paper {self.paper_state}",
                 f"Cover    {'OPEN' if self.cover_open else 'closed'}"]
        return [("", "\n".join(lines))]

    def _keys(self) -> StyleAndTextTuples:
        return [("", "\n".join(self._legend))]

    def _hardware_keys(self) -> StyleAndTextTuples:
        return [("", "\n".join(self._hardware))]

    def _display(self) -> StyleAndTextTuples:
        return [("", "\n".join(line.ljust(self.cols) for line in self.display))]

    def _receipt_lines(self) -> list[str]:
        return self.paper.text.rstrip("\n").split("\n") if self.paper.text else [
            "(nothing printed yet this run)"]

    def _receipt_top(self) -> int:
        """The receipt's first line in view: its end, as the paper comes out,
        unless PgUp went back (receipt_back lines)."""
        n = len(self._receipt_lines())
        return max(0, n - max(1, self._receipt_rows) - self.receipt_back)

    def _receipt_scroll(self, window: Window) -> int:
        if window.render_info is not None:
            self._receipt_rows = window.render_info.window_height
        return self._receipt_top()

    def _page(self, pages: int) -> None:
        n = len(self._receipt_lines())
        page = max(1, self._receipt_rows - 2)
        self.receipt_back = min(max(0, self.receipt_back + pages * page),
                                max(0, n - self._receipt_rows))

    def _receipt(self) -> StyleAndTextTuples:
        return [("", "\n".join(self._receipt_lines()))]

    def _receipt_title(self) -> str:
        if self.paper.printing:
            return "Receipt printing"
        if self.paper.last_png is not None:
            return f"Last receipt: {self.paper.last_png.name}"
        return "Receipt"

    def _prompt(self) -> StyleAndTextTuples:
        if self.scanning is not None:
            return [("bold", " Barcode: "), ("", self.scanning + "_"),
                    ("", "   (Enter scans it, Esc cancels)")]
        return [("", " " + self.note)]

    def _console(self) -> StyleAndTextTuples:
        return [("", "\n".join(" " + line for line in self.console))]

    def _status(self) -> StyleAndTextTuples:
        text = f" Receipts saved as {self.root}/{PNG_PATTERN}"
        if self.serial is not None and self.serial.in_repl:
            text = " The port is MicroPython's REPL: F3 restarts the till |" + text
        elif self.ended is not None:
            text = f" The till stopped (exit code {self.ended}): F10 leaves |" + text
        return [("reverse", text.ljust(300))]

    def _layout(self) -> Layout:
        rows = len(self.display)
        receipt = FormattedTextControl(
            self._receipt, show_cursor=False,
            # The window follows the receipt's last line, as paper comes out.
            get_cursor_position=lambda: Point(0, self._receipt_top()))
        left = HSplit([
            VSplit([Frame(Window(FormattedTextControl(self._display), width=self.cols,
                                 height=rows), title="Display"), Window()]),
            Window(FormattedTextControl(self._state), height=3),
            Window(FormattedTextControl(self._keys), height=len(self._legend)),
        ], width=_LEFT_COLS)
        body = VSplit([left, Frame(Window(receipt, width=self.paper.columns,
                                          get_vertical_scroll=self._receipt_scroll),
                                   title=self._receipt_title), Window()])
        screen = HSplit([
            Window(FormattedTextControl(self._title), height=1),
            body,
            Window(FormattedTextControl(self._hardware_keys), height=len(self._hardware)),
            Window(FormattedTextControl(self._prompt), height=1),
            Window(FormattedTextControl(self._console), height=2),
            Window(FormattedTextControl(self._status), height=1),
        ])
        too_small = Condition(lambda: self._too_small())
        return Layout(HSplit([
            ConditionalContainer(screen, filter=~too_small),
            ConditionalContainer(Window(FormattedTextControl(self._small), wrap_lines=True),
                                 filter=too_small),
        ]))

    def _too_small(self) -> bool:
        size = self.app.output.get_size()
        return size.columns < MIN_COLS or size.rows < MIN_ROWS

    def _small(self) -> StyleAndTextTuples:
        size = self.app.output.get_size()
        return [("", f"The till needs a terminal of at least {MIN_COLS}x{MIN_ROWS} "
                     f"(this one is {size.columns}x{size.rows}): make it bigger. "
                     "F10 quits.")]

    # ---- keys ------------------------------------------------------------------

    def _bindings(self) -> KeyBindings:
        kb = KeyBindings()
        scanning = Condition(lambda: self.scanning is not None)
        selling = ~scanning

        def till_key(name: str) -> Any:
            def handler(event: KeyPressEvent) -> None:
                if name == "TOTAL" and self.burst.digits and self._end_burst():
                    return  # a scanner's Enter after its code
                self.note = f"Pressed {name}"
                self._send(f"key {name}")
            return handler

        def digit(d: str) -> Any:
            def handler(event: KeyPressEvent) -> None:
                self._burst_digit(d)
            return handler

        for d in "0123456789":
            kb.add(d, filter=selling)(digit(d))
        for ch, name in self.keymap.items():
            key = "enter" if ch == "\r" else "c-j" if ch == "\n" else ch
            kb.add(key, filter=selling)(till_key(name))

        @kb.add(Keys.Any, filter=selling)
        def _(event: KeyPressEvent) -> None:
            shown = event.data if event.data.isprintable() else repr(event.data)
            self.note = f"The key {shown} does nothing here: the keys are listed on the left"

        @kb.add("f2", filter=selling)
        def _(event: KeyPressEvent) -> None:
            self.scanning = ""

        @kb.add(Keys.Any, filter=scanning)
        def _(event: KeyPressEvent) -> None:
            if event.data.isprintable() and len(self.scanning or "") < MAX_DIGITS:
                self.scanning = (self.scanning or "") + event.data

        @kb.add("backspace", filter=scanning)
        def _(event: KeyPressEvent) -> None:
            self.scanning = (self.scanning or "")[:-1]

        @kb.add("enter", filter=scanning)
        def _(event: KeyPressEvent) -> None:
            code, self.scanning = self.scanning or "", None
            self._scan(code)

        @kb.add("escape", filter=scanning)
        @kb.add("f2", filter=scanning)
        def _(event: KeyPressEvent) -> None:
            self.scanning = None
            self.note = "Nothing scanned"

        @kb.add(Keys.BracketedPaste)
        def _(event: KeyPressEvent) -> None:
            text = event.data.strip()
            if self.scanning is not None:
                self.scanning = (self.scanning + text)[:MAX_DIGITS]
            else:
                self._scan(text)

        @kb.add("f5")
        def _(event: KeyPressEvent) -> None:
            self.paper_state = "ok" if self.paper_state == "out" else "out"
            self._send(f"paper {self.paper_state}")
            self.note = f"Paper {'in' if self.paper_state == 'ok' else 'out'}"

        @kb.add("f6")
        def _(event: KeyPressEvent) -> None:
            self.paper_state = "ok" if self.paper_state == "low" else "low"
            self._send(f"paper {self.paper_state}")
            self.note = f"Paper {self.paper_state}"

        @kb.add("f7")
        def _(event: KeyPressEvent) -> None:
            self.cover_open = not self.cover_open
            self._send(f"cover {'open' if self.cover_open else 'closed'}")
            self.note = f"Printer cover {'opened' if self.cover_open else 'closed'}"

        @kb.add("f8")
        def _(event: KeyPressEvent) -> None:
            self.printer_on = not self.printer_on
            self._send(f"printer {'on' if self.printer_on else 'off'}")
            self.note = f"Printer switched {'on' if self.printer_on else 'off'}"

        @kb.add("pageup")
        def _(event: KeyPressEvent) -> None:
            self._page(1)

        @kb.add("pagedown")
        def _(event: KeyPressEvent) -> None:
            self._page(-1)

        @kb.add("f9")
        def _(event: KeyPressEvent) -> None:
            self.drawer_open = False
            self.note = "Drawer closed"

        @kb.add("f3")
        def _(event: KeyPressEvent) -> None:
            if self.serial is None:
                self.note = "The key F3 does nothing here: the keys are listed on the left"
            elif self.stopping:
                pass
            elif self.serial.restart():
                self.note = "Restarting the till"
            else:
                self.note = ("The till is running: F3 restarts it once it has handed its "
                             "port to mpremote")

        @kb.add("f10")
        @kb.add(Keys.SIGINT)  # `kill -INT`: the screen takes Ctrl-C as a key
        @kb.add("c-c")
        @kb.add("c-d")
        def _(event: KeyPressEvent) -> None:
            asyncio.ensure_future(self.quit())

        return kb

    def _scan(self, code: str, let_go: bool = True) -> None:
        if not _BARCODE.fullmatch(code):
            self.note = ("That is not a barcode (no spaces, at most 48 characters): "
                         "nothing scanned")
            return
        self.note = f"Scanned {code}"
        self._send(f"scan {code}", let_go)

    # Digits wait in self.burst (host_tools/simui/burst.py): a scanner's are
    # a scan, with the Enter after them; fingers' go to the till as keys.

    def _burst_digit(self, d: str) -> None:
        for out in self.burst.add(d, time.monotonic()):
            self._let_go(out)
        if self._burst_timer is not None:
            self._burst_timer.cancel()
        self._burst_timer = asyncio.get_running_loop().call_later(self.burst.gap_s,
                                                                  self._burst_due)

    def _burst_due(self) -> None:
        if self.burst.due(time.monotonic()):
            self._let_go(self.burst.end())
            self.app.invalidate()

    def _end_burst(self) -> bool:
        """Let the digits held back go; whether they were a scan."""
        if self._burst_timer is not None:
            self._burst_timer.cancel()
            self._burst_timer = None
        out = self.burst.end()
        self._let_go(out)
        return out[0] == "scan"

    def _let_go(self, out: tuple[str, str]) -> None:
        kind, digits = out
        if kind == "scan":
            self._scan(digits, let_go=False)
            return
        self.note = f"Pressed {digits}"  # unless the till cannot take them (_send says)
        for d in digits:
            self._send(f"key {d}", let_go=False)

    def last_words(self) -> list[str]:
        """What the till said after F10, or, when it stopped by itself, the
        lines before it stopped (why)."""
        lines = list(self.said)
        if self.stopping:
            after = self._said_count - self._said_at_stop
            return lines[max(0, len(lines) - after):] if after else []
        return lines

    def _send(self, command: str, let_go: bool = True) -> None:
        """One command to the till; let_go=False from the burst itself (the
        digits it still holds came after this)."""
        if let_go and self.burst.digits:
            self._end_burst()  # digits held back go first: keys stay in order
        if self.serial is not None and self.serial.in_repl and not self.stopping:
            self.note = self._handed_over()
            return
        if self.ended is not None or (self.stopping and self.serial is None):
            self.note = "The till has stopped: F10 leaves"
            return
        asyncio.ensure_future(self.till.send(command))

    # ---- running ---------------------------------------------------------------

    async def _read_till(self) -> None:
        while True:
            while (line := await self.till.readline()) is not None:
                got = self.reader.line(line)
                if isinstance(got, DisplayFrame):
                    self.display = got.lines
                elif got is not None:
                    self.console.append(got)
                    self.said.append(got)
                    self._said_count += 1
                self.app.invalidate()
            assert self.till.proc is not None
            self.ended = await self.till.proc.wait()
            self._watch_paper()
            if self.stopping or self.serial is None:
                break
            # As on a board whose main.py returned: the port is the REPL's.
            self.note = self._handed_over()
            self.app.invalidate()
            if not await self.serial.repl():
                break
            await self.serial.start()
            self.ended = None
            self.note = "The till boots again"
            self.app.invalidate()
        self.note = "The till has stopped (its last words are above): F10 leaves"
        if self.stopping:
            self.app.exit(result=self.ended)
        self.app.invalidate()

    def _handed_over(self) -> str:
        """What the screen says once the REPL has the port: the till handed it
        over (its last screen, app.py _hand_over), or stopped by itself."""
        if self.ended == 0 and self.display[0].startswith(_MAINTENANCE):
            return "The till handed its port to mpremote (its REPL): F3 restarts it, F10 quits"
        return (f"The till stopped (exit code {self.ended}); its port is MicroPython's "
                "REPL: F3 restarts it")

    def _watch_paper(self) -> None:
        try:
            self.paper.poll()
        except OSError as exc:  # the directory went read-only, the disk is full
            self.note = f"A receipt could not be saved as PNG: {exc.strerror or exc}"
            self.app.invalidate()
        if self.paper.text != self._receipt_text:
            self._receipt_text = self.paper.text
            self.receipt_back = 0  # new paper: show it
            self.app.invalidate()
        if self.paper.drawer_pulses > self._pulses_seen:
            self._pulses_seen = self.paper.drawer_pulses
            self.drawer_open = True
            self.app.invalidate()

    async def _paper_loop(self) -> None:
        while True:
            self._watch_paper()
            await asyncio.sleep(0.1)

    async def quit(self) -> None:
        if self.stopping:
            if self.serial is not None:  # F10 again: the power switch
                self.serial.switch_off()
            return
        if self.ended is not None and (self.serial is None or not self.serial.in_repl):
            self.app.exit(result=self.ended)
            return
        self.stopping = True
        self._said_at_stop = self._said_count
        self.note = "Stopping: the till prints what it still has, then stops"
        if self.serial is not None and not self.serial.in_repl:
            self.note = "Stopping: finish an open sale, or F10 again switches the till off"
        self.app.invalidate()
        await self.till.stop(_STOP_TIMEOUT_S)  # _read_till ends the application

    async def run(self) -> int | None:
        await self.till.start()
        if self.set_clock:
            # What the gateway does at every sync; the sim's clock starts unset.
            await self.till.send(f"clock {int(time.time())}")
        reader = asyncio.ensure_future(self._read_till())
        paper = asyncio.ensure_future(self._paper_loop())
        try:
            return await self.app.run_async()
        finally:
            paper.cancel()
            if self.till.running or self.serial is not None:  # its REPL too
                await self.till.stop(_STOP_TIMEOUT_S)
            reader.cancel()
