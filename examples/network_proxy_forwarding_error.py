"""Networking, forwarded proxies: AuthkeyError before connecting.

Run (from examples/)::

    python network_proxy_forwarding_error.py

Prints (the address varies)::

    AuthkeyError: received a proxy to 'actor' at ... whose authkey this process
    does not know; connect to that actor first with ActorClass.connect(...)
"""
from network_proxy_forwarding import MyActor

import uactor

if __name__ == '__main__':
    with MyActor() as actor:
        try:
            my_other_actor = actor.my_other_actor
        except uactor.AuthKeyError as e:
            print(f'{type(e).__name__}: {e}')
            # AuthkeyError: received a proxy to 'actor' at ... whose authkey ...
