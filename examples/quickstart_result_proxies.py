"""Quickstart: returning result proxies.

A method can hand back a proxy instead of a copy, so the data stays in the
actor process.  Declare it in ``_method_to_typeid_``, or wrap the value with
``uactor.proxy`` inside the method.  Changes made through the proxy happen to
the actor's own object.

Run (from examples/)::

    python quickstart_result_proxies.py

Prints::

    declarative: dict proxy, the actor now holds {'answer': 42}
    uactor.proxy: dict proxy, the actor now holds {'answer': 42}
"""
import uactor


class DeclarativeActor(uactor.Actor):

    _method_to_typeid_ = {'my_method': 'dict'}

    def __init__(self):
        self.my_data = {}

    def my_method(self):
        return self.my_data


class ExplicitActor(uactor.Actor):
    def __init__(self):
        self.my_data = {}

    def my_method(self):
        return uactor.proxy(self.my_data, 'dict')


if __name__ == '__main__':
    for label, actor_class in (('declarative', DeclarativeActor),
                               ('uactor.proxy', ExplicitActor)):
        with actor_class() as actor:
            data = actor.my_method()  # a proxy to the dict in the actor
            data['answer'] = 42       # runs inside the actor process
            print(f'{label}: {uactor.typeid(data)} proxy, '
                  f'the actor now holds {actor.my_method().copy()}')
