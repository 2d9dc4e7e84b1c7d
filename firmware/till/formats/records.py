# Bodies of the journal records the sale engine writes: the integer keys, codes
# and flags. docs/records.md explains every field; docs/journal.cddl is the
# schema HO validates against. Keys are small integers because a record is
# written to flash for every sale and sent over a slow link (docs/benchmarks.md).
try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# Sale and storno bodies (KIND_SALE, KIND_STORNO).
S_CASHIER = const(1)
S_LINES = const(2)
S_DISCOUNT = const(3)  # sale discount: [kind, value, amount, ?approver]
S_TENDERS = const(4)
S_TAXES = const(5)  # [[class, rate_ppm, net, tax, gross], ...] sorted by class
S_TOTAL = const(6)
S_ROUNDING = const(7)
S_SNAPSHOT = const(8)
S_REFUND_OF = const(9)  # storno: receipt number (journal seq) of the sale refunded
S_APPROVER = const(10)  # storno: the manager who approved it
S_NUMBER = const(11)  # the document number: gap-free per series (reports.series)
S_PICKS = const(12)  # storno: for each line, its index in the refunded sale's lines
S_NO_RECEIPT = const(13)  # storno: true for a refund without a receipt (no S_REFUND_OF)

# A line of a sale or storno.
L_PLU = const(1)
L_CODE = const(2)  # the barcode as scanned (decoded digits), when scanned
L_QTY = const(3)  # pieces; negative in a storno
L_GRAMS = const(4)  # weighed lines instead of L_QTY
L_PRICE = const(5)  # unit price, minor units (per kg when weighed)
L_TAX = const(6)
L_AMOUNT = const(7)  # price x qty (or weight), before the line discount
L_DISCOUNT = const(8)  # [kind, value, amount, ?approver]
L_FLAGS = const(9)
L_APPROVER = const(10)  # manager who allowed an open price or price override
L_NAME = const(11)
L_VOIDED_BY = const(12)  # manager who allowed the void (when the cashier may not)

LF_VOIDED = const(1)  # voided before tender: kept for audit, out of every total
LF_OPEN_PRICE = const(2)  # price keyed for an open-price item
LF_PRICE_OVERRIDE = const(4)  # catalog price replaced by a keyed price
LF_PRICE_FROM_CODE = const(8)  # price read from a price-embedded barcode
LF_WEIGHT_FROM_CODE = const(16)  # weight read from a weight-embedded barcode
LF_AGE_CHECKED = const(32)  # the cashier confirmed the customer's age

DISC_PERCENT = const(1)  # value in basis points
DISC_AMOUNT = const(2)  # value in minor units

TENDER_CASH = const(1)  # [1, amount, given]: change = given - amount
TENDER_CARD = const(2)  # [2, amount, approval reference]
TENDER_VOUCHER = const(3)  # [3, amount, the voucher's code as scanned]
TENDER_NAMES = {TENDER_CASH: "cash", TENDER_CARD: "card", TENDER_VOUCHER: "voucher"}

# No-sale body (KIND_NO_SALE).
N_CASHIER = const(1)
N_APPROVER = const(2)

# Cash movement body (KIND_CASH): cash put into the drawer or taken out of it
# outside a sale (the float, a paid-out). Cashier and approver are under the
# no-sale body's keys (N_CASHIER, N_APPROVER).
M_AMOUNT = const(3)  # minor units: > 0 into the drawer (cash in), < 0 out of it (cash out)
M_REASON = const(4)  # what the cashier keyed: the store's reason code or voucher number (digits)

# Event body (KIND_EVENT): {1: type, ?2: cashier, ?3: detail}.
E_TYPE = const(1)
E_CASHIER = const(2)
E_DETAIL = const(3)
E_APPROVER = const(4)  # the manager who allowed it (cancel, training on/off)

EV_SIGN_ON = const(1)
EV_SIGN_OFF = const(2)
EV_LOCKOUT = const(3)  # detail: lockout end (Unix time)
EV_CANCEL = const(4)  # detail: the sale body as it stood
EV_TRAINING_ON = const(5)
EV_TRAINING_OFF = const(6)
EV_CREDENTIALS_CLEARED = const(7)  # detail: seconds since the till was last used
EV_CHECKPOINT = const(8)  # detail: period totals (P_* map) so far
EV_COPY = const(9)  # detail: receipt number reprinted
EV_CRASH = const(10)  # detail: what failed, why and where ("printer: MemoryError: ... (f.py:12 g)")
EV_CLOCK_SET = const(11)  # detail: [previous time or null, new time] (Unix seconds)
EV_NOT_PRINTED = const(12)  # detail: the receipt (journal sequence) dropped from the print queue

# Period totals: the body of a Z closing (KIND_CLOSING) and the detail of a
# checkpoint event share these keys.
P_Z = const(1)  # number of the Z that closes (or closed) the period
P_FIRST = const(2)  # first seq of the period
P_LAST = const(3)  # last seq counted
P_TAXES = const(4)  # [[class, rate_ppm, net, tax, gross], ...]
P_TENDERS = const(5)  # [[tender type, amount], ...]
P_COUNTS = const(6)  # {C_*: count}
P_SALES = const(7)  # sum of sale totals
P_REFUNDS = const(8)  # sum of storno totals (negative)
P_ROUNDING = const(9)  # sum of cash rounding differences
P_DISCOUNTS = const(10)  # sum of discounts given (net of refunded ones)
P_GRAND_TOTAL = const(11)  # perpetual: every sale and storno ever, after this period
P_INCOMPLETE = const(12)  # true: records were missing when the totals were rebuilt
P_CASHIER = const(13)  # closing only: who closed
P_SNAPSHOT = const(14)  # closing only: snapshot version in force
P_APPROVER = const(15)  # closing only: the manager who approved it, if not the cashier
# Keys 16-19: the last document number taken in each series (reports.series:
# sales, refunds, training sales, training refunds) up to the period's end,
# so the numbers go on from a closing or checkpoint when older records are gone.
P_NUMBERS = const(16)
P_CASH_IN = const(20)  # sum of cash movements into the drawer
P_CASH_OUT = const(21)  # sum of cash movements out of it (negative)
P_EXPECTED = const(22)  # cash the drawer should hold: cash tenders + cash in + cash out
P_COUNTED = const(23)  # closing only: the cash the cashier counted in the drawer

C_SALES = const(1)
C_STORNOS = const(2)
C_NO_SALES = const(3)
C_CANCELLED = const(4)
C_VOIDED_LINES = const(5)
C_TRAINING = const(6)  # training records, kept out of every money total
C_CASH_INS = const(10)
C_CASH_OUTS = const(11)

# Configuration-applied body (KIND_CONFIG): which HO snapshot is now in force.
C_VERSION = const(1)
C_BASE = const(2)  # the version a delta was applied to; absent for a full snapshot
C_HASH = const(3)  # the snapshot's SHA-256 content hash (docs/snapshot.md)
C_AT_BOOT = const(4)  # true: found in force at boot, not journaled when installed
