"""Proxy forwarding: connect to the actor first, then receive its proxies.

Connecting with ``MyOtherActor.connect`` registers the authkey for that
actor's address in this process, so the forwarded proxy can be used.

Run (from examples/)::

    python proxy_forwarding_connect.py

Prints (process id varies)::

    Hello from MyOtherActor in process 41234
"""
from proxy_forwarding import MyActor, MyOtherActor

if __name__ == '__main__':
    with MyActor() as actor:
        address = actor.my_other_actor_address
        with MyOtherActor.connect(address, b'OtherSecret'):
            my_other_actor = actor.my_other_actor
            print(my_other_actor.hello())
            # Hello from MyOtherActor in process 41234
