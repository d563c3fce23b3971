"""Actor pool of actors returning ``AsyncResult`` proxies.

Each actor runs the work on its own thread pool and returns an
``AsyncResult`` proxy, so the client needs no threads.  Simpler client code,
but proxying ``AsyncResult`` costs more than the client-side pool of
``actor_pool_client_side.py``.

Run (from examples/)::

    python actor_pool_async_results.py

Prints (process ids vary)::

    [41234, 41235, 41236, 41237, 41234]
"""
import itertools
import multiprocessing.pool
import os

import uactor


class AsyncActor(uactor.Actor):
    _method_to_typeid_ = {'getpid': 'AsyncResult'}

    def __init__(self):
        self.threadpool = multiprocessing.pool.ThreadPool(4)

    def getpid(self):
        return self.threadpool.apply_async(os.getpid)


class SyncActorPool:
    def __init__(self, size, cls, *args, **kwargs):
        self.pool = [cls(*args, **kwargs) for _ in range(size)]
        self.actors = itertools.cycle(self.pool)

    def call(self, method, *args, **kwargs):
        return getattr(next(self.actors), method)(*args, **kwargs)

    def __enter__(self):
        for actor in self.pool:
            actor.__enter__()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return any([
            actor.__exit__(exc_type, exc_val, exc_tb)
            for actor in self.pool
        ])


if __name__ == '__main__':
    with SyncActorPool(4, AsyncActor) as pool:
        results = [pool.call('getpid') for _ in range(5)]
        print([result.get() for result in results])
        # [41234, 41235, 41236, 41237, 41234]
