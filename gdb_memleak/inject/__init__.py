"""The channel into the target: safe points, calls that survive gdb, and gdb state put back."""
