"""Sticky processes: pin each actor to one CPU core with psutil.

One actor per core this process may use, each pinned to its core.  The docs
use ``range(psutil.cpu_count())``; the cores in our own affinity mask are
used instead, since pinning to a core outside it (in a container, under
``taskset``) fails.  Needs ``psutil`` (``pip install psutil``) and a platform
with CPU affinity (Linux, Windows, FreeBSD); elsewhere it says so and exits.

Run (from examples/)::

    python sticky_processes.py

Prints (process ids vary; one line per core)::

    Actor process 41234 runs on cores [0]
    Actor process 41235 runs on cores [1]

or ``Skipped: ...`` and the reason.
"""
import os

import uactor

try:
    import psutil
except ImportError:  # optional dependency
    psutil = None


class StickyActor(uactor.Actor):
    def __init__(self, core):
        # Stick our current actor process to a core
        psutil.Process().cpu_affinity([core])

    def affinity(self):
        return os.getpid(), psutil.Process().cpu_affinity()


def main():
    if psutil is None:
        print('Skipped: psutil is not installed (pip install psutil)')
        return
    if not hasattr(psutil.Process, 'cpu_affinity'):
        print('Skipped: this platform does not support CPU affinity')
        return

    # Initialize one actor per CPU core
    actors = [StickyActor(core) for core in psutil.Process().cpu_affinity()]
    try:
        for actor in actors:
            pid, cores = actor.affinity()
            print(f'Actor process {pid} runs on cores {cores}')
    finally:
        for actor in actors:
            actor.shutdown()


if __name__ == '__main__':
    main()
