"""Actor lifetime: context manager and ``shutdown()``.

The prints come from the actor process (its stdout is this terminal's):
entering a ``with`` block calls ``Actor.__enter__``, leaving it calls
``Actor.__exit__`` and then ``Actor.shutdown``, after which the process ends.

Run (from examples/)::

    python lifetime.py

Prints::

    Initialized
    Context enter
    Context exit
    Shutdown
    Initialized
    Shutdown
"""
import uactor


class Actor(uactor.Actor):

    def __init__(self):
        print('Initialized')

    def __enter__(self):
        print('Context enter')
        return super().__enter__()  # return actor proxy

    def __exit__(self, exc_type, exc_value, traceback):
        print('Context exit')
        return super().__exit__(exc_type, exc_value, traceback)  # shutdown

    def shutdown(self):
        print('Shutdown')


if __name__ == '__main__':
    with Actor() as actor:
        # Initialized
        # Context enter
        pass
    # Context exit
    # Shutdown

    actor = Actor()
    # Initialized
    actor.shutdown()
    # Shutdown
