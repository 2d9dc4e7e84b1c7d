# Autonomous-mode rules: when the till is OFFLINE, what it then refuses, and
# when long disuse wipes credentials. Runs under CPython and MicroPython.
from till.pos import offline

H = 3600
D = 86400
NOW = 1795000000
POL = {"max_offline_hours": 24, "max_snapshot_age_hours": 168,
       "offline": {"open_price": False, "price_override": True, "max_refund": 1500}}


def test_online_while_synced_and_snapshot_fresh():
    assert offline.offline_reason(NOW, NOW - 24 * H, NOW - 168 * H, POL) is None


def test_offline_reasons():
    assert offline.offline_reason(None, NOW, NOW, POL) == "Clock not set"
    assert offline.offline_reason(NOW, None, NOW, POL) == "Never synced"
    assert offline.offline_reason(NOW, NOW - 24 * H - 1, NOW, POL) == "No sync for 24 h"
    assert offline.offline_reason(NOW, NOW - 50 * H, NOW, POL) == "No sync for 50 h"
    assert offline.offline_reason(NOW, NOW, NOW - 168 * H - 1, POL) == "Snapshot 7 days old"
    # A snapshot without a creation time is judged by the sync alone.
    assert offline.offline_reason(NOW, NOW, None, POL) is None


def test_defaults_when_the_policy_is_silent():
    assert offline.offline_reason(NOW, NOW - 24 * H, None, {}) is None
    assert offline.offline_reason(NOW, NOW - 24 * H - 1, None, {}) == "No sync for 24 h"
    assert offline.offline_reason(NOW, NOW, NOW - 169 * H, {}) == "Snapshot 7 days old"
    assert offline.rules({}, True) == {"open_price": False, "price_override": False,
                                       "max_refund": 0, "max_sale": None}


def test_rules():
    assert offline.rules(POL, False) == {"open_price": True, "price_override": True,
                                         "max_refund": None, "max_sale": None}
    assert offline.rules(POL, True) == {"open_price": False, "price_override": True,
                                        "max_refund": 1500, "max_sale": None}
    assert offline.rules(dict(POL, offline_max_sale=5000), True)["max_sale"] == 5000


def test_zero_hours_means_no_limit():
    pol = {"max_offline_hours": 0, "max_snapshot_age_hours": 0}
    assert offline.offline_reason(NOW, None, NOW - 999 * D, pol) is None
    assert offline.offline_reason(NOW, NOW - 999 * D, None, pol) is None


def test_retention():
    assert offline.retention_s({}) == 10 * D
    assert not offline.unused_too_long(NOW, NOW - 10 * D, {})
    assert offline.unused_too_long(NOW, NOW - 10 * D - 1, {})
    assert not offline.unused_too_long(NOW, NOW - 11 * D, {"retention_days": 30})
    assert not offline.unused_too_long(None, NOW - 99 * D, {})
    assert not offline.unused_too_long(NOW, None, {})
