"""Proxy forwarding: connect only when needed, as an AuthkeyError fallback.

Run (from examples/)::

    python proxy_forwarding_fallback.py

Prints (process id varies)::

    AuthkeyError caught, connecting to MyOtherActor
    Hello from MyOtherActor in process 41234
"""
from proxy_forwarding import MyActor, MyOtherActor

import uactor

if __name__ == '__main__':
    with MyActor() as actor:
        try:
            my_other_actor = actor.my_other_actor
            print(my_other_actor.hello())
        except uactor.AuthKeyError:
            print('AuthkeyError caught, connecting to MyOtherActor')
            address = actor.my_other_actor_address
            with MyOtherActor.connect(address, b'OtherSecret'):
                my_other_actor = actor.my_other_actor
                print(my_other_actor.hello())
                # Hello from MyOtherActor in process 41234
