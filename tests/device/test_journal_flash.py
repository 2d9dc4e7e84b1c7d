# micropython-heap: 2M
# The journal on real littlefs (emulated chip, Pico block and page sizes) filling
# up: sales are refused with a clear message before littlefs runs out of blocks,
# nothing already written is harmed, a day can still be closed, and selling
# resumes once HO has processed the records.
import flashsim
import support
from till.formats import journal as J

KEY = b"till-7 secret key, 32 bytes long"
TILL = "store-12/till-7"
MOUNT = "/jfull"


def sale(n):
    return {1: n, 2: 3, 3: [[4006381333931, 1000, 249, 249, 1], [20012345, 1000, 1299, 1299, 2]],
            4: 1548, 5: [[1, 2000, 452]]}


def open_journal():
    return J.Journal(MOUNT + "/j", TILL, KEY, clock=lambda: 1795000000,
                     segment_bytes=4096, low_free_bytes=48 * 1024, full_free_bytes=20 * 1024)


def test_full_flash_refuses_sales_before_anything_is_lost():
    if not flashsim.available():
        support.skip("littlefs (os.VfsLfs2) exists only under MicroPython")
    flash = flashsim.Flash(48)  # 192 KiB chip
    flashsim.format_and_mount(flash, MOUNT)
    try:
        j = open_journal()
        n = 0
        warned_at = None
        while True:
            try:
                j.append(J.KIND_SALE, sale(n + 1))
            except J.JournalFull as exc:
                assert "Sync the till" in str(exc)
                break
            n += 1
            if warned_at is None and j.status()["space"] == J.SPACE_LOW:
                warned_at = n
        assert n > 300 and warned_at is not None and warned_at < n - 100, (n, warned_at)
        assert j.append(J.KIND_CLOSING, {1: "Z"}) == n + 1  # the reserve takes a closing
        j.close()
        j = open_journal()
        assert j.problems == [] and j.last_seq == n + 1
        assert [s for s, _ in j.records_after(0)] == list(range(1, n + 2))
        j.mark_processed(n + 1)  # the gateway synced
        assert j.status()["space"] == J.SPACE_OK
        assert j.append(J.KIND_SALE, sale(n + 2)) == n + 2
        j.close()
    finally:
        flashsim.umount(MOUNT)
