"""One module per gdb command; :mod:`.base` holds what they share."""
