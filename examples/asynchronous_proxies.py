"""Asynchronous proxies: a ``Pool`` proxy to a thread pool inside the actor.

``apply_async`` returns an ``AsyncResult`` proxy at once; ``get()`` blocks
until the task is done.  The docs sleep 2 seconds; this example sleeps
``SLEEP`` = 0.2 s so that it finishes quickly.

Run (from examples/)::

    python asynchronous_proxies.py

Prints (times vary)::

    apply_async returned after 0.0014s
    get returned after 0.2032s
"""
import multiprocessing.pool
import time

import uactor

SLEEP = 0.2  # seconds; the docs use 2


class Actor(uactor.Actor):
    _exposed_ = ('pool',)

    @property
    def pool(self):
        return uactor.proxy(self._pool, 'Pool')

    def __init__(self):
        self._pool = multiprocessing.pool.ThreadPool()


if __name__ == '__main__':
    with Actor() as actor:
        start = time.time()
        async_result = actor.pool.apply_async(time.sleep, (SLEEP,))
        print(f'apply_async returned after {round(time.time() - start, 4)}s')
        # apply_async returned after 0.0014s

        async_result.get()
        print(f'get returned after {round(time.time() - start, 4)}s')
        # get returned after 0.2032s
