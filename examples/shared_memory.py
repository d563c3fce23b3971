"""Intermediate result storage: hand over data through shared memory.

The actor writes into a ``SharedMemory`` block owned by its own
``SharedMemoryManager`` and returns the block (pickled by name); this process
maps the same memory and reads it without the payload crossing the pipe.
The actor's manager frees (unlinks) the block when the actor shuts down; this
process only closes its own mapping.

Run (from examples/)::

    python shared_memory.py

Prints (process ids vary)::

    Running on 11209
    Shared memory from 47989.
"""
import multiprocessing.managers
import multiprocessing.shared_memory
import os
from multiprocessing import resource_tracker

import uactor


class SharedActor(uactor.Actor):
    def __init__(self):
        self.shared = multiprocessing.managers.SharedMemoryManager()
        self.shared.start()

    def shutdown(self):
        self.shared.shutdown()

    def get_shared_res(self):
        data = f'Shared memory from {os.getpid()}.'.encode()
        shared = self.shared.SharedMemory(len(data))
        shared.buf[:] = data
        return shared


if __name__ == '__main__':
    # Before Python 3.13, attaching to a block registers it with the resource
    # tracker of the attaching process too (CPython issue 82300), which then
    # reports it as leaked at exit.  Starting the tracker before the actor
    # makes every process here share this one, so the block is tracked once.
    resource_tracker.ensure_running()

    with SharedActor() as actor:
        shared = actor.get_shared_res()
        print(f'Running on {os.getpid()}')
        # Running on 11209
        print(shared.buf.tobytes().decode())
        # Shared memory from 47989.
        shared.close()  # the actor's SharedMemoryManager unlinks it
