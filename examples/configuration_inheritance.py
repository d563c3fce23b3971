"""Configuration inheritance: ``_exposed_`` and friends merge with the parent's.

``Child`` exposes ``hello`` and, inherited from ``Parent``, ``greet``; neither
exposes ``private``, so their proxies raise ``AttributeError`` for it.

Run (from examples/)::

    python configuration_inheritance.py

Prints::

    It's Parent.
    It's Child.
    It's Child. Hello.
    'Parent.proxy_class' object has no attribute 'private'
    'Child.proxy_class' object has no attribute 'private'
"""
import uactor


class Parent(uactor.Actor):

    _exposed_ = ('greet',)

    def greet(self):
        return f"It's {type(self).__name__}."

    def private(self):
        return "This method won't be available in the proxy"


class Child(Parent):

    _exposed_ = ('hello',)

    def hello(self):
        return f'{super().greet()} Hello.'


if __name__ == '__main__':
    print(Parent().greet())
    # It's Parent.

    print(Child().greet())
    # It's Child.

    print(Child().hello())
    # It's Child. Hello.

    try:
        print(Parent().private())
    except AttributeError as e:
        print(e)
        # 'Parent.proxy_class' object has no attribute 'private'

    try:
        print(Child().private())
    except AttributeError as e:
        print(e)
        # 'Child.proxy_class' object has no attribute 'private'
