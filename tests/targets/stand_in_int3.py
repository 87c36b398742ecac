"""A process with a stand-in for gdb's int3: a byte 0xCC at a known address, for inject/keeper.sh
run on its own.  Prints "address ADDRESS" and "ready", then "tick N byte=XX" every 0.1 s (the byte's value now)."""
import ctypes
import time

STAND_IN = ctypes.create_string_buffer(b"\xcc", 1)
print("address %d" % ctypes.addressof(STAND_IN), flush=True)
print("ready", flush=True)
ticks = 0
while True:
    time.sleep(0.1)
    ticks += 1
    print("tick %d byte=%02x" % (ticks, STAND_IN.raw[0]), flush=True)
