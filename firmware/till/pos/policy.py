# What head office may set for a till, and what holds where it sets nothing:
# the permissions a role can grant, the role limits, the store policies and
# their defaults. The till reads every one of them through get() and may();
# HO's snapshot builder (host_tools/hodata/snapshot_builder.py) validates and
# fills in store.json from these same tables and from bounds(). A default or a
# permission is stated here once, so the till can never allow what HO's data
# does not say, nor fall back to a default HO's builder does not write.
#
# A setting's kind is its default's type: bool a flag; int a whole number;
# None no limit, or a limit; str one of a few texts; dict a map of settings;
# tuple a list of names (with hi None in bounds(): barcode prefixes, digits).

# Permissions a role's "may" can hold (docs/engine.md says what each allows).
# Nothing else grants them: "approve" lets a manager approve only what her own
# role may do.
PERMISSIONS = ("void_line", "void_sale", "refund", "no_sale", "price_override",
               "cash_in_out", "x_report", "z_report", "approve", "training",
               "ack_journal")

# snapshot meta "roles": {name: role}; a missing limit is the strictest.
ROLE = {
    "rank": 0,  # HO's order of roles; the till does not read it
    "max_line_discount_bp": 0,
    "max_sale_discount_bp": 0,
    "max_refund": 0,  # with permission refund
    "max_open_price": None,  # None: only the item limits an open price
    "may": (),
}

# policies["offline"]: what the till still allows while OFFLINE (till.offline).
OFFLINE = {
    "open_price": False,
    "price_override": False,
    "max_refund": 0,
}

# snapshot meta "policies".
POLICIES = {
    "prices_include_tax": True,
    "round_per_line": False,
    "cash_rounding": 1,  # the smallest coin, minor units
    "eight_digit": "ean8",
    "max_offline_hours": 24,  # 0: never offline for want of a sync
    "max_snapshot_age_hours": 168,  # 0: no age limit
    "offline_max_sale": None,
    "offline": {},  # every key of OFFLINE at its default
    "retention_days": 10,
    "idle_lock_minutes": 5,  # 0: never
    "pin_max_tries": 3,
    "pin_lockout_minutes": 15,
    "max_lines": 100,  # bounds a sale's memory
    "refund_days": 30,  # how old a receipt may be to be refunded; 0: while it is on the till
    "max_refund_without_receipt": 0,  # 0: a refund needs the receipt
    "vouchers": (),  # barcode prefixes of the store's vouchers, a tender (till.pos.engine)
}


def get(settings, key, table=POLICIES):
    """settings[key], or its default when HO left it out. A key that is not in
    table raises KeyError: a misspelt key must fail a test, not read None."""
    default = table[key]
    if settings is None:
        return default
    return settings.get(key, default)


def may(role, permission):
    """True if role (a snapshot role dict, or None) holds permission."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)
    return permission in get(role, "may", ROLE)


def bounds():
    """What HO may set, for its builder: {name: (table, {key: (lo, hi)})}.
    A whole number or a limit is lo..hi (hi None: no upper bound); a text is
    one of hi; a map's hi names its table here, a list's hi holds the names it
    may list. Built on call, so the till's heap never holds it."""
    return {
        "policies": (POLICIES, {
            "prices_include_tax": (None, None), "round_per_line": (None, None),
            "cash_rounding": (1, 100000), "eight_digit": (None, ("ean8", "upce")),
            "max_offline_hours": (0, None), "max_snapshot_age_hours": (0, None),
            "offline_max_sale": (0, None), "offline": (None, "offline"),
            "retention_days": (1, 36500), "idle_lock_minutes": (0, 1440),
            "pin_max_tries": (1, 99), "pin_lockout_minutes": (0, 10080),
            "max_lines": (1, 1000), "refund_days": (0, 3650),
            "max_refund_without_receipt": (0, None), "vouchers": (None, None)}),
        "offline": (OFFLINE, {
            "open_price": (None, None), "price_override": (None, None),
            "max_refund": (0, None)}),
        "role": (ROLE, {
            "rank": (0, 99), "max_line_discount_bp": (0, 10000),
            "max_sale_discount_bp": (0, 10000), "max_refund": (0, None),
            "max_open_price": (0, None), "may": (None, PERMISSIONS)}),
    }
