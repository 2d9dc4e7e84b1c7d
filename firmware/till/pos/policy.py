# What head office may set for a till, and what holds where it sets nothing:
# the permissions a role can grant, the role limits, the store policies, their
# defaults and their bounds. The till reads every one of them through get();
# HO's snapshot builder (host_tools/hodata/snapshot_builder.py) validates and
# fills in store.json from these same tables. A default or a permission is
# stated here once, so the till can never allow what HO's data does not say.
#
# A setting is (default, lo, hi), read by the type of the default:
#   bool        a flag (lo, hi unused)
#   int         a whole number lo..hi (hi None: no upper bound)
#   None        no limit, or a whole number of at least lo
#   str         one of the texts in hi
#   dict        a map of the settings in the table hi (absent: all defaults)
#   tuple       a list of names from hi (absent: none)

# Permissions a role's "may" can hold (docs/engine.md says what each allows).
# Nothing else grants them: "approve" lets a manager approve only what her own
# role may do. cash_in_out is accepted for HO's role files, and this firmware
# has no cash in/out key yet, so it allows nothing on the till.
PERMISSIONS = ("void_line", "void_sale", "refund", "no_sale", "price_override",
               "cash_in_out", "x_report", "z_report", "approve", "training",
               "ack_journal")

# snapshot meta "roles": {name: role}; a missing limit is the strictest.
ROLE = {
    "rank": (0, 0, 99),  # HO's order of roles; the till does not read it
    "max_line_discount_bp": (0, 0, 10000),
    "max_sale_discount_bp": (0, 0, 10000),
    "max_refund": (0, 0, None),  # with permission refund
    "max_open_price": (None, 0, None),  # None: only the item limits it
    "may": ((), None, PERMISSIONS),
}

# policies["offline"]: what the till still allows while OFFLINE (till.offline).
OFFLINE = {
    "open_price": (False, None, None),
    "price_override": (False, None, None),
    "max_refund": (0, 0, None),
}

# snapshot meta "policies". Hours and minutes of 0 mean "never" where
# docs/engine.md says so.
POLICIES = {
    "prices_include_tax": (True, None, None),
    "round_per_line": (False, None, None),
    "cash_rounding": (1, 1, 100000),  # the smallest coin, minor units
    "eight_digit": ("ean8", None, ("ean8", "upce")),
    "max_offline_hours": (24, 0, None),
    "max_snapshot_age_hours": (168, 0, None),
    "offline_max_sale": (None, 0, None),
    "offline": ({}, None, OFFLINE),
    "retention_days": (10, 1, 36500),
    "idle_lock_minutes": (5, 0, 1440),
    "pin_max_tries": (3, 1, 99),
    "pin_lockout_minutes": (15, 0, 10080),
    "max_lines": (100, 1, 1000),  # bounds a sale's memory
}


def get(settings, key, table=POLICIES):
    """settings[key], or its default when HO left it out. A key that is not in
    table raises KeyError: a misspelt key must fail a test, not read None."""
    default = table[key][0]
    if settings is None:
        return default
    return settings.get(key, default)


def may(role, permission):
    """True if role (a snapshot role dict, or None) holds permission."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)
    return permission in get(role, "may", ROLE)
