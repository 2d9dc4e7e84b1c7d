# micropython-romfs
# (Loads the engine: under MicroPython it runs from ROMFS, see tests/conftest.py.)
#
# Authority comes only from head office's roles (till.pos.policy): no
# permission implies another, so a manager who may approve, or close the day,
# still may not switch training mode or acknowledge journal damage unless her
# role says so. Each refusal is checked next to the same shift with the
# permission granted, so the test fails if the refusal has another cause.
from engine_fixture import PINS, Till, display, meta, of
from till.formats import journal as J
from till.formats import records as R
from till.pos import policy


def without(permission):
    """The fixture's store with the manager's role lacking permission (she
    keeps approve, z_report and everything else)."""
    m = meta()
    may = m["roles"]["manager"]["may"]
    assert "approve" in may and "z_report" in may and permission in may
    m["roles"]["manager"]["may"] = [p for p in may if p != permission]
    return m


def events(acts, ev_type):
    return [a for a in of(acts, "record")
            if a[2] == J.KIND_EVENT and a[3][R.E_TYPE] == ev_type]


def damage(till):
    till.journal.problems.append(J.Problem("seg", 0, None, "test damage"))
    assert till.journal.broken


def test_training_needs_the_training_permission_approve_is_not_enough():
    for granted in (True, False):
        till = Till(meta() if granted else without("training"))
        try:
            # The manager herself at the till.
            till.sign_on(9)
            acts = till.keys("REPORT 4")
            if granted:
                assert events(acts, R.EV_TRAINING_ON) and till.engine.training
                till.keys("CLEAR REPORT 4 CLEAR")  # off again
            else:
                assert display(acts) == ("Training: mgr", "Manager no.?")
                acts = till.keys("9 TOTAL")
                assert display(acts)[0].startswith("Maria may not")
                assert not events(acts, R.EV_TRAINING_ON) and not till.engine.training
                till.keys("CLEAR")
            till.keys("SIGN")
            # A cashier asks; the manager approves (or may not).
            till.sign_on(1)
            acts = till.keys("REPORT 4 9 TOTAL")
            if granted:
                acts += till.keys("%s TOTAL" % PINS[9])
                on = events(acts, R.EV_TRAINING_ON)
                assert on and on[0][3][R.E_APPROVER] == 9 and till.engine.training
            else:
                # Refused before her PIN is asked: she cannot approve it.
                assert display(acts)[0].startswith("Maria may not")
                assert not events(acts, R.EV_TRAINING_ON) and not till.engine.training
        finally:
            till.close()


def test_journal_ack_needs_ack_journal_z_report_is_not_enough():
    for granted in (True, False):
        till = Till(meta() if granted else without("ack_journal"))
        try:
            till.sign_on(9)
            damage(till)
            acts = till.keys("REPORT 5")
            if granted:
                assert [a[2] for a in of(acts, "record")] == [J.KIND_ACK]
                assert not till.journal.broken
            else:
                assert display(acts) == ("Journal ack: mgr", "Manager no.?")
                acts = till.keys("9 TOTAL")
                assert display(acts)[0].startswith("Maria may not")
                assert not of(acts, "record") and till.journal.broken
                # She still closes the day: z_report is hers.
                till.keys("CLEAR")
                assert "z_report" in till.engine.role["may"]
        finally:
            till.close()


def test_a_role_with_training_but_without_approve_cannot_approve_it():
    m = meta()
    m["roles"]["senior"]["may"] = m["roles"]["senior"]["may"] + ["training"]
    till = Till(m)
    try:
        till.sign_on(1)
        acts = till.keys("REPORT 4 3 TOTAL")  # Carla holds training, not approve
        assert display(acts)[0].startswith("Carla may not")
        assert not till.engine.training
        till.keys("CLEAR SIGN")
        till.sign_on(3)  # for herself she may
        acts = till.keys("REPORT 4")
        assert events(acts, R.EV_TRAINING_ON) and till.engine.training
    finally:
        till.close()


def test_defaults_and_unknown_names():
    assert policy.get({}, "idle_lock_minutes") == policy.POLICIES["idle_lock_minutes"] == 5
    assert policy.get({"idle_lock_minutes": 0}, "idle_lock_minutes") == 0
    assert policy.get(None, "max_refund", policy.ROLE) == 0
    assert policy.get({}, "open_price", policy.OFFLINE) is False
    assert not policy.may(None, "approve") and not policy.may({}, "training")
    assert policy.may({"may": ["training"]}, "training")
    # A misspelt key or permission is a programming error, never "not set".
    for call in (lambda: policy.get({}, "idle_lock_minute"),
                 lambda: policy.get({}, "may"),
                 lambda: policy.may({"may": ["trainig"]}, "trainig")):
        try:
            call()
        except KeyError:
            pass
        else:
            raise AssertionError("an unknown name was accepted")
    # Every permission the engine can ask a manager for is one HO can grant.
    from till.pos import engine
    asked = sorted(engine._PERMISSION_TEXT)
    assert [p for p in asked if p not in policy.PERMISSIONS] == [], asked
