"""The interactive simulator's screen (`kassa sim run DIR` in a terminal).

The till is the real firmware under MicroPython, a child process fed the sim
board's script commands (firmware/till/drivers/sim.py) on its stdin; this
package only draws it and turns key presses into those commands:

  tillproc  the child: its command line, and its output read back into
            display frames and console messages
  serialtill  the child on one serial line for the gateway and mpremote, as
            an ESP32's (--repl-port): the line is host_tools/provision/ptyline.py
  paper     the printer's output file read back into receipts (text and PNG)
            and drawer pulses
  screen    the full-screen terminal application (prompt_toolkit)
"""
