"""Usage: an actor answers from its own process.

The first example of the uActor docs ("Usage").  Instantiating an actor class
starts a dedicated process and returns a proxy; the temporary proxy below is
garbage-collected right after the call, which also ends the actor process.

Run (from examples/)::

    python usage.py

Prints (process ids vary)::

    Hello from process 22682!
    Hello from subprocess 22683!
"""
import os

import uactor


class Actor(uactor.Actor):
    def hello(self):
        return f'Hello from subprocess {os.getpid()}!'


if __name__ == '__main__':
    print(f'Hello from process {os.getpid()}!')
    # Hello from process 22682!

    print(Actor().hello())
    # Hello from subprocess 22683!
