"""`gdb-memleak report`: the three commands run once by gdb in batch mode, written as report.json and report.html.

Runs outside gdb: nothing here imports gdb (or the gdb-side modules).
"""
