"""Serialized proxies: choose at call time between a value and a proxy.

Run (from examples/)::

    python serialized_proxies.py

Prints (the proxy class may be uactor's own subclass of ListProxy)::

    <class 'list'> [1, 2, 3]
    <class 'multiprocessing.managers.ListProxy'> [1, 2, 3]
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
        # <class 'multiprocessing.managers.ListProxy'> [1, 2, 3]
