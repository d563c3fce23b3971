"""Method callbacks: pass one actor's bound method to another actor.

``actor_b.receive`` travels to ``actor_a`` as a callable proxy; ``actor_a``
calls it, which runs ``ActorB.receive`` in ``actor_b``'s process.

Run (from examples/)::

    python method_callbacks.py

Prints::

    pong
"""
import uactor


class ActorA(uactor.Actor):

    def send(self, target):
        return target('ping')


class ActorB(uactor.Actor):

    def receive(self, value):
        return 'pong' if value == 'ping' else 'error'


if __name__ == '__main__':
    actor_a = ActorA()
    actor_b = ActorB()
    with actor_a, actor_b:
        print(actor_a.send(actor_b.receive))
        # pong
