# Autonomous mode. The till always sells from its own snapshot; these rules
# say when it counts as OFFLINE (no sync for too long, or a snapshot too old),
# what it then refuses, and when long disuse makes it forget cashier
# credentials. All times are Unix seconds; policy keys and their defaults are
# in till.pos.policy (docs/engine.md).
from till.pos import policy

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_HOUR_S = const(3600)
_DAY_S = const(86400)

def offline_reason(now, last_sync, snapshot_created, policies):
    """Why the till is offline (text for the display), or None if it is not.

    An unknown clock or a till that never synced counts as offline: the rules
    that protect the store must not depend on a clock nobody set."""
    if now is None:
        return "Clock not set"
    # 0 hours means no limit (docs/snapshot.md).
    max_off = policy.get(policies, "max_offline_hours") * _HOUR_S
    if max_off:
        if last_sync is None:
            return "Never synced"
        if now - last_sync > max_off:
            return "No sync for %d h" % ((now - last_sync) // _HOUR_S)
    max_age = policy.get(policies, "max_snapshot_age_hours") * _HOUR_S
    if max_age and snapshot_created is not None and now - snapshot_created > max_age:
        return "Snapshot %d days old" % ((now - snapshot_created) // _DAY_S)
    return None


def rules(policies, offline):
    """What the till allows now: {"open_price", "price_override", "max_refund",
    "max_sale"}.

    Online, the limits are None (only the roles limit refunds). Offline:
    "offline_max_sale" caps a sale's total (None: no cap), and the policy's
    "offline" map says the rest; by default no open prices, no price overrides
    and no refunds (max_refund 0) until head office is reachable."""
    if not offline:
        return {"open_price": True, "price_override": True, "max_refund": None,
                "max_sale": None}
    off = policy.get(policies, "offline")
    return {"open_price": bool(policy.get(off, "open_price", policy.OFFLINE)),
            "price_override": bool(policy.get(off, "price_override", policy.OFFLINE)),
            "max_refund": policy.get(off, "max_refund", policy.OFFLINE),
            "max_sale": policy.get(policies, "offline_max_sale")}


def retention_s(policies):
    return policy.get(policies, "retention_days") * _DAY_S


def unused_too_long(now, last_activity, policies):
    """True when the till was not used for the retention period: its cached
    credentials must go and a sync must come before anyone signs on."""
    if now is None or last_activity is None:
        return False
    return now - last_activity > retention_s(policies)
