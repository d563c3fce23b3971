"""Networking, forwarded proxies: connect with ``capture``, then receive proxies.

We reach ``MyOtherActor`` as ``localhost:PORT`` while proxies to it carry its
bind address (``127.0.0.1:PORT`` here, ``0.0.0.0:PORT`` when it listens on
every interface); ``capture`` routes those through our connection.

Run (from examples/)::

    python network_proxy_forwarding_connect.py

Prints (process id and port vary)::

    MyOtherActor bound to 127.0.0.1:7000, reached at localhost:7000
    MyOtherActor process id is 41234
"""
from network_proxy_forwarding import MyActor, MyOtherActor

if __name__ == '__main__':
    with MyActor() as actor:
        bind_host, port = actor.my_other_actor_address
        address = 'localhost', port
        capture = [(bind_host, port)]
        print(f'MyOtherActor bound to {bind_host}:{port}, '
              f'reached at localhost:{port}')
        with MyOtherActor.connect(address, b'OtherSecret', capture=capture):
            my_other_actor = actor.my_other_actor
            print('MyOtherActor process id is', my_other_actor.getpid())
            # MyOtherActor process id is 41234
