"""Quickstart: becoming asynchronous (and concurrent).

Methods returning ``AsyncResult`` proxies come back at once while the work
runs on a thread pool inside the actor; two actors work in parallel.

The docs sleep 10 seconds per call; this example sleeps ``SLEEP`` = 0.2 s so
that it finishes quickly.  The elapsed times printed are approximate.

Run (from examples/)::

    python quickstart_async.py

Prints (times vary)::

    one call: ready after 0.2s
    two calls on one actor: both ready after 0.2s
    one call on each of two actors: both ready after 0.2s
"""
import multiprocessing.pool
import time

import uactor

SLEEP = 0.2  # seconds; the docs use 10


class MyActor(uactor.Actor):
    _method_to_typeid_ = {'my_method': 'AsyncResult'}

    def __init__(self):
        self.threadpool = multiprocessing.pool.ThreadPool()

    def my_method(self):
        return self.threadpool.apply_async(time.sleep, [SLEEP])


if __name__ == '__main__':
    with MyActor() as my_actor:
        start = time.monotonic()

        # will return immediately
        result = my_actor.my_method()

        # will take SLEEP seconds
        result.wait()
        print(f'one call: ready after {time.monotonic() - start:.1f}s')

    # run code concurrently on the same actor
    with MyActor() as my_actor:
        start = time.monotonic()

        # these will return immediately
        result_a = my_actor.my_method()
        result_b = my_actor.my_method()

        # these all will take SLEEP seconds in total
        result_a.wait()
        result_b.wait()
        print(f'two calls on one actor: both ready after '
              f'{time.monotonic() - start:.1f}s')

    # parallelize across different actor processes
    actor_a = MyActor()
    actor_b = MyActor()
    with actor_a, actor_b:
        start = time.monotonic()

        # these both will return immediately
        result_a = actor_a.my_method()
        result_b = actor_b.my_method()

        # The docs wait after the with block; results live in their actor
        # process, so wait while the actors are still running.
        result_a.wait()  # this will take ~SLEEP seconds to complete
        result_b.wait()  # this will be immediate (we already waited)
        print(f'one call on each of two actors: both ready after '
              f'{time.monotonic() - start:.1f}s')
