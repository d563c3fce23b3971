"""Proxy forwarding: a forwarded proxy whose authkey we lack raises AuthkeyError.

Run (from examples/)::

    python proxy_forwarding_error.py

Prints (the message text may vary)::

    AuthkeyError: ...
"""
import uactor
from proxy_forwarding import MyActor

if __name__ == '__main__':
    with MyActor() as actor:
        try:
            my_other_actor = actor.my_other_actor
        except uactor.AuthkeyError as e:  # also spelled uactor.AuthKeyError
            print(f'{type(e).__name__}: {e}')
            # AuthkeyError: ...
