"""Networking, forwarded proxies: AuthkeyError before connecting.

Run (from examples/)::

    python network_proxy_forwarding_error.py

Prints (the message text may vary)::

    AuthkeyError: ...
"""
import uactor
from network_proxy_forwarding import MyActor

if __name__ == '__main__':
    with MyActor() as actor:
        try:
            my_other_actor = actor.my_other_actor
        except uactor.AuthKeyError as e:
            print(f'{type(e).__name__}: {e}')
            # AuthkeyError: ...
