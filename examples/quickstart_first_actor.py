"""Quickstart: your first actor.

Every actor runs in its own process; calling the class returns a proxy.  The
process ends with ``shutdown()``, at the end of a ``with`` block, or once every
proxy to it has been garbage-collected.

Run (from examples/)::

    python quickstart_first_actor.py

Prints::

    my_method returned True
    my_method returned True (inside a with block)
"""
import uactor


class MyActor(uactor.Actor):
    def my_method(self):
        return True


if __name__ == '__main__':
    my_actor_proxy = MyActor()
    print('my_method returned', my_actor_proxy.my_method())
    # my_method returned True

    # finish the actor process once we are done with it
    my_actor_proxy.shutdown()

    # or let a with block do it
    with MyActor() as my_actor_proxy:
        print('my_method returned', my_actor_proxy.my_method(),
              '(inside a with block)')
        # my_method returned True (inside a with block)
