"""The button's firmware as it goes onto a real board.

    msa firmware build --board esp32 --json     precompile with mpy-cross (build.py)
    msa firmware deploy --port /dev/ttyUSB0     copy with mpremote and verify (deploy.py)

The layout of the flash is `boards/image.py`'s, for every board.
"""
