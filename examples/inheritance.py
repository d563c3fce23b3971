"""Actor inheritance: actors subclass like any Python class.

Run (from examples/)::

    python inheritance.py

Prints (process ids vary; the three differ)::

    [297381] Hello everyone.
    [299145] Hi, it's Mr. Whiskers. Meow.
    [299165] Hi, it's Mr. Fangs. Roar.
"""
import os

import uactor


class Feline(uactor.Actor):

    def __init__(self, name):
        self.name = name

    def greet(self):
        return f"[{os.getpid()}] Hi, it's {self.name}."


class Cat(Feline):

    def greet(self):
        return f'{super().greet()} Meow.'


class Tiger(Feline):

    def greet(self):
        return f'{super().greet()} Roar.'


if __name__ == '__main__':
    cat = Cat('Mr. Whiskers')
    tiger = Tiger('Mr. Fangs')

    print(f"[{os.getpid()}] Hello everyone.")
    # [297381] Hello everyone.

    print(cat.greet())
    # [299145] Hi, it's Mr. Whiskers. Meow.

    print(tiger.greet())
    # [299165] Hi, it's Mr. Fangs. Roar.

    cat.shutdown()
    tiger.shutdown()
