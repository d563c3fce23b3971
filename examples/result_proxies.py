"""Result proxies: declarative (``_method_to_typeid_``) and wrapped (``uactor.proxy``).

A declared method returns a proxy only when called through an actor proxy
(calls inside the actor get the list itself); ``uactor.proxy`` always returns
a proxy, which works once received by another process.

Run (from examples/)::

    python result_proxies.py

Prints (uActor 0.1.1 printed multiprocessing's ``ListProxy`` class here;
uactor's proxy classes are its own, one per typeid)::

    <class 'uactor.Proxy[list]'> list [1, 2, 3]
    <class 'uactor.Proxy[list]'> list [1, 2, 3]
"""
import uactor


class Actor(uactor.Actor):
    _method_to_typeid_ = {'get_declarative_proxy_to_data': 'list'}

    def __init__(self):
        self.data = [1, 2, 3]

    def get_declarative_proxy_to_data(self):
        return self.data

    def get_serialized_proxy_to_data(self):
        return uactor.proxy(self.data, 'list')


if __name__ == '__main__':
    with Actor() as actor:

        proxy = actor.get_declarative_proxy_to_data()
        print(type(proxy), uactor.typeid(proxy), list(proxy))
        # <class 'uactor.Proxy[list]'> list [1, 2, 3]

        proxy = actor.get_serialized_proxy_to_data()
        print(type(proxy), uactor.typeid(proxy), list(proxy))
        # <class 'uactor.Proxy[list]'> list [1, 2, 3]
