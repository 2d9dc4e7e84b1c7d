# micropython-romfs
# Checks the ROMFS mode of the harness: the firmware is imported in place from
# /rom and a Pico W's 192K of heap is left for everything else.
import support


def test_firmware_comes_from_rom_and_the_heap_left_is_a_pico_w_s():
    if not support.IS_MICROPYTHON:
        support.skip("CPython has neither ROMFS nor a fixed heap")
    # What the harness leaves, measured before any firmware is imported (what
    # the firmware's own imports then take is the firmware's cost, measured by
    # the whole-till tests and make bench, not a property of the harness).
    free = support.mem_free()
    from till.formats import journal

    assert journal.__file__.startswith("/rom/"), journal.__file__
    assert 180000 < free < 200000, free
