# Reads the journal's records in order for the link, a few at a time, exactly
# as they are on flash, remembering where it stopped (segment and byte offset):
# the link streams a day of records in small steps between key presses, and
# rescanning a 16 KB segment from its start for each step would cost the till
# more time than the sending. Journal.records_after (which the host tools and
# tests use) reads a whole request in one go instead.
#
# The segment format (a header item, then records) is the journal's
# (till/formats/journal.py); this reads the journal's list of segments and its
# file names, never writes. Records are read through a buffer given once (the
# journal's encode buffer, idle between appends: the link reads only between
# the engine's events), so streaming costs no heap beyond each record's copy.

from till.formats import cbor
from till.formats import journal as J

_BATCH = 8


class Cursor:
    """Records after `after`, up to `last` (the journal's head when asked)."""

    def __init__(self, journal, after, last, buf=None):
        self.journal = journal
        self.last = last
        self.seq = after  # the last record handed out
        self._buf = buf
        self._segment = None  # first seq of the segment being read
        self._offset = 0  # where the next item starts in it
        self._ready = []  # read ahead, not yet handed out (at most _BATCH)

    def done(self):
        return self.seq >= self.last and not self._ready

    def next(self):
        """(seq, raw bytes) of the next record, or None when done. Raises
        OSError / CBORError when the journal cannot be read there."""
        if not self._ready:
            if self.seq >= self.last:
                return None
            self._fill()
            if not self._ready:
                # The journal has no record where it says it has (damage
                # recovery reports): end here rather than loop.
                self.last = self.seq
                return None
        item = self._ready.pop(0)
        self.seq = item[0]
        return item

    def _segments(self):
        return self.journal._segments  # ascending first seqs (read only)

    def _fill(self):
        segs = self._segments()
        want = self.seq + 1 + len(self._ready)
        if self._segment is None or self._segment not in segs:
            # The first read, or the segment was freed: find the one holding `want`.
            first = segs[0] if segs else None
            for s in segs:
                if s <= want:
                    first = s
            if first is None:
                return
            self._segment = first
            self._offset = 0
        while True:
            self._read_segment(want)
            if self._ready:
                return
            later = [s for s in self._segments() if s > self._segment]
            if not later:
                return
            self._segment = later[0]
            self._offset = 0

    def _read_segment(self, want):
        path = self.journal.path + "/" + J.segment_name(self._segment)
        with open(path, "rb") as f:
            if self._offset:
                f.seek(self._offset)
            reader = cbor.SequenceReader(f, max_item_bytes=J.MAX_RECORD_BYTES,
                                         buffer=self._buf)
            base = self._offset
            try:
                for off, rec, size in reader:
                    self._offset = base + off + size
                    if base == 0 and off == 0:
                        continue  # the segment's header
                    if not isinstance(rec, dict):
                        continue
                    s = rec.get(J.K_SEQ)
                    if not isinstance(s, int) or s < want:
                        continue
                    if s > self.last:
                        return
                    self._ready.append((s, reader.last_raw()))
                    want = s + 1
                    if len(self._ready) >= _BATCH:
                        return
            except cbor.CBORTruncated:
                pass  # a record being appended, or a torn tail: read it next time
