# The scanner line reader: terminators, overlong and garbled codes, duplicate
# suppression on an injected clock, and non-blocking reads from several kinds
# of stream.
import io

import support
from fakes import Ticks as Clock
from till.drivers import scanner
from till.drivers.scanner import EVENT_CODE, EVENT_ERROR, Scanner


class Chunks:
    """A stream that delivers its data in the given pieces, one per read, and
    then nothing (None, as a MicroPython UART with timeout=0)."""

    def __init__(self, pieces):
        self.pieces = list(pieces)
        self.reads = 0

    def readinto(self, buf):
        self.reads += 1
        if not self.pieces:
            return None
        piece = self.pieces[0]
        n = min(len(buf), len(piece))
        buf[:n] = piece[:n]
        if n == len(piece):
            self.pieces.pop(0)
        else:
            self.pieces[0] = piece[n:]
        return n


class ReadOnly:
    """Only read(n), like a pyserial port with timeout=0 (b"" when empty)."""

    def __init__(self, data):
        self.data = data

    def read(self, n):
        out, self.data = self.data[:n], self.data[n:]
        return out


def codes(events):
    return [v for k, v in events if k == EVENT_CODE]


def test_cr_terminated_codes_from_a_bytesio():
    s = Scanner(io.BytesIO(b"4006381333931\r96385074\r"), dedup_ms=0)
    assert s.poll() == [(EVENT_CODE, "4006381333931"), (EVENT_CODE, "96385074")]
    assert s.poll() == []


def test_each_terminator():
    for term, data in (("CR", b"123\r456\r"), ("LF", b"123\n456\n"),
                       ("CRLF", b"123\r\n456\r\n"), (b"\r\n", b"123\r\n456\r\n")):
        s = Scanner(io.BytesIO(data), terminator=term, dedup_ms=0)
        assert codes(s.poll()) == ["123", "456"], term
    # A CR-configured reader copes with a scanner that sends CRLF: the LF is
    # dropped, not glued to the next code.
    s = Scanner(io.BytesIO(b"123\r\n456\r\n"), terminator="CR", dedup_ms=0)
    assert codes(s.poll()) == ["123", "456"]
    # An LF reader waits for the LF: a bare CR does not end a code.
    s = Scanner(io.BytesIO(b"123\r456"), terminator="LF", dedup_ms=0)
    assert s.poll() == []
    assert support.raises(ValueError, Scanner, io.BytesIO(), terminator=b"\t")
    assert support.raises(KeyError, Scanner, io.BytesIO(), terminator="TAB")


def test_code_split_across_reads_and_polls():
    clock = Clock()
    stream = Chunks([b"40063", b"81333", b"931\r9638", b"5074\r"])
    s = Scanner(stream, ticks_ms=clock, read_bytes=64)
    # Everything that arrived before the poll, in four reads.
    assert s.poll() == [(EVENT_CODE, "4006381333931"), (EVENT_CODE, "96385074")]
    stream.pieces = [b"12", b"34"]
    clock.t = 10
    assert s.poll() == []  # no terminator yet
    stream.pieces = [b"5\r"]
    clock.t = 20
    assert s.poll() == [(EVENT_CODE, "12345")]


def test_read_buffer_smaller_than_the_data():
    s = Scanner(io.BytesIO(b"4006381333931\r" * 3 + b"96385074\r"), read_bytes=4,
                dedup_ms=0)
    assert codes(s.poll()) == ["4006381333931"] * 3 + ["96385074"]


def test_read_only_stream_like_pyserial():
    s = Scanner(ReadOnly(b"96385074\r"), dedup_ms=0)
    assert s.poll() == [(EVENT_CODE, "96385074")]
    assert s.poll() == []


def test_nonblocking_socket_raising_eagain_means_nothing_yet():
    class Eagain:
        def readinto(self, buf):
            raise OSError(11)

    assert Scanner(Eagain()).poll() == []

    class Broken:
        def readinto(self, buf):
            raise OSError(5)

    assert support.raises(OSError, Scanner(Broken()).poll)


def test_overlong_code_is_one_error_and_the_next_code_reads():
    s = Scanner(io.BytesIO(b"1" * 100 + b"\r" + b"96385074\r"), max_len=20, dedup_ms=0)
    events = s.poll()
    assert events == [(EVENT_ERROR, scanner.MSG_TOO_LONG % 20), (EVENT_CODE, "96385074")]
    # Exactly max_len characters are fine.
    s = Scanner(io.BytesIO(b"7" * 20 + b"\r"), max_len=20)
    assert s.poll() == [(EVENT_CODE, "7" * 20)]


def test_overlong_without_terminator_reports_at_once_and_never_grows():
    # A wrong terminator setting: the error shows while the bytes keep coming.
    stream = Chunks([b"123456789\n"] * 50)
    s = Scanner(stream, max_len=32, dedup_ms=0)
    events = s.poll()
    assert events == [(EVENT_ERROR, scanner.MSG_TOO_LONG % 32)]
    for _ in range(10):
        s.poll()
    assert len(s._line) <= 32


def test_garbled_bytes_are_an_error_not_a_code():
    s = Scanner(io.BytesIO(b"40\x8063\r96385074\r\x1b[A\r"), dedup_ms=0)
    assert s.poll() == [(EVENT_ERROR, scanner.MSG_GARBLED), (EVENT_CODE, "96385074"),
                        (EVENT_ERROR, scanner.MSG_GARBLED)]


def test_gs1_separator_passes_through():
    s = Scanner(io.BytesIO(b"]C10104012345678901\x1d10ABC\r"))
    assert s.poll() == [(EVENT_CODE, "]C10104012345678901\x1d10ABC")]


def test_empty_lines_are_ignored():
    s = Scanner(io.BytesIO(b"\r\r\n\r96385074\r"), dedup_ms=0)
    assert s.poll() == [(EVENT_CODE, "96385074")]


def test_duplicate_suppressed_within_window_from_last_sighting():
    clock = Clock(1000)
    stream = Chunks([])
    s = Scanner(stream, dedup_ms=700, ticks_ms=clock)

    def scan(t, data=b"4006381333931\r"):
        clock.t = t
        stream.pieces.append(data)
        return codes(s.poll())

    assert scan(1000) == ["4006381333931"]
    assert scan(1300) == []  # double read
    assert scan(1900) == []  # still held: 600 ms after the last sighting
    assert scan(2700) == ["4006381333931"]  # 800 ms later: a second can
    assert scan(2710, b"96385074\r") == ["96385074"]  # another code is never held back
    assert scan(2720) == ["4006381333931"]  # ... and resets the window
    assert s.suppressed == 2


def test_duplicate_window_across_tick_wrap():
    clock = Clock(0x3FFFFF00)  # 256 ms before MicroPython's ticks wrap to 0
    stream = Chunks([b"123\r"])
    s = Scanner(stream, dedup_ms=700, ticks_ms=clock)
    assert codes(s.poll()) == ["123"]
    clock.t = 0x100  # 512 ms later, after the wrap
    stream.pieces.append(b"123\r")
    assert codes(s.poll()) == []
    clock.t = 0x400  # 1280 ms after the first
    stream.pieces.append(b"123\r")
    assert codes(s.poll()) == ["123"]


def test_dedup_zero_keeps_every_scan():
    s = Scanner(io.BytesIO(b"123\r123\r123\r"), dedup_ms=0)
    assert codes(s.poll()) == ["123", "123", "123"]


def test_code_cut_off_by_a_gap_is_dropped():
    clock = Clock(0)
    stream = Chunks([b"400638"])
    s = Scanner(stream, gap_ms=500, ticks_ms=clock)
    assert s.poll() == []
    clock.t = 600
    stream.pieces.append(b"96385074\r")
    # The stale half is reported, the fresh code reads cleanly.
    assert s.poll() == [(EVENT_ERROR, scanner.MSG_INCOMPLETE), (EVENT_CODE, "96385074")]


def test_feed_from_another_source():
    s = Scanner(Chunks([]), dedup_ms=0)
    assert s.feed(b"12") == []
    assert s.feed(b"3\r") == [(EVENT_CODE, "123")]


def test_poll_reads_a_bounded_amount():
    # A stream that never runs dry (noise at the wrong baud rate) cannot hold
    # the main loop in poll().
    class Endless:
        reads = 0

        def readinto(self, buf):
            self.reads += 1
            for i in range(len(buf)):
                buf[i] = 0x31
            return len(buf)

    stream = Endless()
    s = Scanner(stream, max_len=16)
    events = s.poll()
    assert stream.reads * 64 <= 512
    assert events == [(EVENT_ERROR, scanner.MSG_TOO_LONG % 16)]


def test_run_task_delivers_events():
    import asyncio

    got = []
    s = Scanner(io.BytesIO(b"123\r456\r"), dedup_ms=0)

    async def main():
        task = asyncio.create_task(s.run(got.append, interval_ms=1))
        await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(main())
    assert got == [(EVENT_CODE, "123"), (EVENT_CODE, "456")]
