# The till's provisioning beside its identity: what `kassa flash` sets for one
# till that its board file does not say. Today the receipt printer model chosen
# by name (`kassa flash --printer TM-T88V`; `kassa printer models` lists them)
# and its profile, as `kassa printer profile` builds it without the code page
# list (the till needs only the page it selects), so the till needs no
# printer database. The site is the first part of the till id (identity.py).
#
# The file (PROVISION_FILE in the till's root): one CBOR map, deterministic
# encoding, {1: printer model (text), 2: printer profile (map)}. No file: the
# board file's PROFILE stands. The app applies it to the board before build(),
# so the printer driver and the receipt layout both see the chosen profile.
from till.formats import cbor

PROVISION_FILE = "provision"
_K_PRINTER_MODEL = 1
_K_PRINTER_PROFILE = 2


class ProvisionError(ValueError):
    """The provisioning file is damaged; the message says what to do."""


def encode(printer_model, printer_profile):
    if type(printer_model) is not str or not printer_model:
        raise ProvisionError("a printer model is a name, e.g. TM-T20II")
    if type(printer_profile) is not dict or "paper_width_dots" not in printer_profile:
        raise ProvisionError("a printer profile is a map as `kassa printer profile` writes")
    return cbor.dumps({_K_PRINTER_MODEL: printer_model, _K_PRINTER_PROFILE: printer_profile})


def decode(data):
    """{"printer_model": str, "printer_profile": dict}; ProvisionError if damaged."""
    try:
        value = cbor.loads(data)
    except cbor.CBORError as exc:
        raise ProvisionError("it is not CBOR (%s)" % exc)
    if type(value) is not dict:
        raise ProvisionError("it is not a map")
    model = value.get(_K_PRINTER_MODEL)
    profile = value.get(_K_PRINTER_PROFILE)
    if type(model) is not str or type(profile) is not dict \
            or type(profile.get("paper_width_dots")) is not int:
        raise ProvisionError("its printer model or profile is missing or not valid")
    return {"printer_model": model, "printer_profile": profile}


def read(path):
    """The provisioning at path, or None when the till has none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        return decode(data)
    except ProvisionError as exc:
        raise ProvisionError("This till's provisioning file %s is damaged: %s. Flash it "
                             "again with `kassa flash --printer MODEL`" % (path, exc))


def apply(board, root="."):
    """Give the board module the printer profile chosen at flash time (before
    its build() reads PROFILE). Returns the provisioning, or None."""
    prov = read(root + "/" + PROVISION_FILE)
    if prov is not None:
        board.PROFILE = prov["printer_profile"]
    return prov
