"""Actor pool with client-side parallelization.

Calls go round-robin to 4 actors; a thread pool in this process waits for
the synchronous results and hands out ``AsyncResult`` objects.  Five calls
over four actors: the fifth lands on the first actor again.

Run (from examples/)::

    python actor_pool_client_side.py

Prints (process ids vary)::

    [41234, 41235, 41236, 41237, 41234]
"""
import itertools
import multiprocessing.pool
import os

import uactor


class SyncActor(uactor.Actor):
    def getpid(self):
        return os.getpid()


class AsyncActorPool:
    def __init__(self, size, cls, *args, **kwargs):
        self.threadpool = multiprocessing.pool.ThreadPool(size)
        self.pool = [cls(*args, **kwargs) for _ in range(size)]
        self.actors = itertools.cycle(self.pool)

    def call(self, method, *args, **kwargs):
        func = getattr(next(self.actors), method)
        return self.threadpool.apply_async(func, args, kwargs)

    def broadcast(self, method, *args, **kwargs):
        return self.threadpool.map_async(
            lambda actor: getattr(actor, method)(*args, **kwargs),
            self.pool,
        )

    def __enter__(self):
        self.threadpool.__enter__()
        self.broadcast('__enter__').wait()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return any([
            *self.broadcast('__exit__', exc_type, exc_val, exc_tb).get(),
            self.threadpool.__exit__(exc_type, exc_val, exc_tb),
        ])


if __name__ == '__main__':
    with AsyncActorPool(4, SyncActor) as pool:
        results = [pool.call('getpid') for _ in range(5)]
        print([result.get() for result in results])
        # [41234, 41235, 41236, 41237, 41234]
