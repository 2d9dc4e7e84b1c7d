# The till's provisioning file (till.formats.provision): the printer chosen at
# `kassa flash --printer`, read back at boot and given to the board before
# build(); a damaged file is reported, a missing one leaves the board's own
# profile. Runs under CPython and MicroPython (-X heapsize=192K).
import support
from till.drivers import profiles
from till.formats import cbor, provision


class Board:
    PROFILE = profiles.TM_T20II


def test_the_file_is_a_cbor_map_of_model_and_profile():
    data = provision.encode("TM-T88V", profiles.TM_T88V)
    assert cbor.loads(data) == {1: "TM-T88V", 2: profiles.TM_T88V}
    assert data == cbor.dumps({2: profiles.TM_T88V, 1: "TM-T88V"})  # deterministic
    got = provision.decode(data)
    assert got == {"printer_model": "TM-T88V", "printer_profile": profiles.TM_T88V}


def test_apply_gives_the_board_the_chosen_profile():
    root = support.tmpdir()
    board = Board()
    assert provision.apply(board, root) is None  # no file: the board's profile stands
    assert board.PROFILE is profiles.TM_T20II
    with open(root + "/" + provision.PROVISION_FILE, "wb") as f:
        f.write(provision.encode("TM-T88V", profiles.TM_T88V))
    assert provision.apply(board, root)["printer_model"] == "TM-T88V"
    assert board.PROFILE == profiles.TM_T88V


def test_a_damaged_file_says_what_to_do():
    root = support.tmpdir()
    for data in (b"", b"\xff", cbor.dumps([1]), cbor.dumps({1: "X"}),
                 cbor.dumps({1: "X", 2: {"paper_width_dots": "576"}})):
        with open(root + "/" + provision.PROVISION_FILE, "wb") as f:
            f.write(data)
        try:
            provision.apply(Board(), root)
        except provision.ProvisionError as exc:
            assert "kassa flash --printer MODEL" in str(exc), str(exc)
        else:
            raise AssertionError("accepted %r" % data)
    for bad in (("", profiles.TM_T88V), ("TM-T88V", {})):
        try:
            provision.encode(*bad)
        except provision.ProvisionError:
            pass
        else:
            raise AssertionError("encoded %r" % (bad,))
