# micropython-romfs
# The engine's side of the link, on both interpreters: PROCESSED arrives as an
# event (the engine is the journal's only writer) and counts as a sync; the
# idle screen says when the till is online and when it last synced; the
# cashier is told once when the till starts working on its own.
import engine_fixture as ef
from till.formats import journal as J
from till.formats import records as R

H = 3600


def test_processed_frees_through_the_engine_and_counts_as_a_sync():
    till = ef.Till(last_sync=ef.T0 - 20 * H)
    till.sign_on()
    till.scan("4006381333931")
    till.keys("CASH")
    head = till.journal.last_seq
    till.clock.t += 120
    till.send(("processed", head))
    assert till.journal.processed_seq == head
    assert till.engine.last_sync == ef.T0 + 120 and till.engine.link_up
    # Beyond the head: refused by the journal, nothing changes, no crash.
    till.send(("processed", head + 50))
    assert till.journal.processed_seq == head and till.engine.crashes == 0
    till.close()


def test_the_idle_screen_shows_online_and_the_last_sync():
    till = ef.Till()
    till.sign_on()
    assert till.display()[1] == ""
    till.send(("link", True, ef.T0 - 60))
    assert till.display()[1] == "Online, synced 11:05"  # T0 - 60 s, UTC
    till.send(("link", False, None))
    assert till.display()[1] == ""
    till.close()


def test_the_cashier_is_told_once_when_the_till_works_on_its_own():
    till = ef.Till(last_sync=ef.T0 - 24 * H + 100)
    till.sign_on()
    till.tick(60)  # online still: nothing to tell
    assert till.display()[0] != "HO out of reach:"
    # A sale is in progress when the 24 hours pass: not interrupted.
    till.scan("4006381333931")
    till.tick(60)
    assert till.display()[0] != "HO out of reach:"
    till.keys("CASH")
    till.tick(1)  # the change due stays on the screen until a key
    assert till.display()[0].startswith("Paid")
    till.keys("CLEAR")
    till.tick(1)
    assert till.display() == ("HO out of reach:", "working on its own")
    till.keys("CLEAR")
    till.tick(60)
    assert till.display()[0] != "HO out of reach:"
    assert till.display()[1] == "No sync for 24 h"
    # Back online, then out of reach again: told again.
    till.send(("processed", till.journal.last_seq))
    till.tick(60)
    assert till.display()[0] != "HO out of reach:"
    till.clock.t += 24 * H
    till.keys("1111 TOTAL")  # locked meanwhile: the PIN again
    till.tick(1)
    assert till.display() == ("HO out of reach:", "working on its own")
    # Nothing of this is journaled: it is the screen's.
    assert not [r for r in till.records(J.KIND_EVENT)
                if r[J.K_BODY][R.E_TYPE] not in (R.EV_SIGN_ON, R.EV_CHECKPOINT)]
    till.close()
