"""Serialized proxies: choose at call time between a value and a proxy.

Run (from examples/)::

    python serialized_proxies.py

Prints (uActor 0.1.1 printed multiprocessing's ``ListProxy`` class here;
uactor's proxy classes are its own, one per typeid)::

    <class 'list'> [1, 2, 3]
    <class 'uactor.Proxy[list]'> [1, 2, 3]
"""
import uactor


class Actor(uactor.Actor):

    def __init__(self):
        self.data = [1, 2, 3]

    def get_data(self, as_proxy=False):
        return uactor.proxy(self.data, 'list') if as_proxy else self.data


if __name__ == '__main__':
    with Actor() as actor:

        value = actor.get_data()
        print(type(value), value)
        # <class 'list'> [1, 2, 3]

        proxy = actor.get_data(as_proxy=True)
        print(type(proxy), list(proxy))
        # <class 'uactor.Proxy[list]'> [1, 2, 3]
