"""Debugging tools for a running worker: grouped task stacks, thread stacks, heap, CPU profile,
leak watchdog, loop-lag monitor, aiomonitor commands and the /debug/pprof/* views.

Each module is usable on its own (plain functions and small classes); the Faust views and the
aiomonitor commands are thin adapters over them.
"""
