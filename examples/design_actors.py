"""Design: an actor lives in its own process.

Instantiating an actor class spawns a process and returns a proxy to the
actor object kept safe in there.

Run (from examples/)::

    python design_actors.py

Prints (process ids vary)::

    My process id is 153333
    Actor process id is 153344
"""
import os

import uactor


class Actor(uactor.Actor):
    def getpid(self):
        return os.getpid()


if __name__ == '__main__':
    with Actor() as actor:
        print('My process id is', os.getpid())
        # My process id is 153333

        print('Actor process id is', actor.getpid())
        # Actor process id is 153344
