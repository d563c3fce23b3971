"""Design: proxies, declared, wrapped or custom, and the registered typeids.

Shows the three ways an actor method returns a proxy (``_method_to_typeid_``,
``uactor.proxy`` and a custom ``BaseProxy`` registered through ``_proxies_``),
that ``uactor.proxy`` only works inside an actor process, and the typeids
every actor manager knows.

The docs' declarative example maps ``'get_mapping'`` while the method is
called ``get_data``; the mapping here names the method it wraps.

Run (from examples/)::

    python design_proxies.py

Prints (the typeid lists vary between Python versions)::

    declarative: dict proxy, {'key': 'value'}
    uactor.proxy: dict proxy, {'key': 'value'}
    custom: MyDataProxy proxy, my_method ran in process 41234
    outside an actor, uactor.proxy raises ProxyError
    Actor.manager_class.typeids(): ('Queue', 'JoinableQueue', ..., 'auto', 'actor')
    ActorManager.typeids(): ('Queue', 'JoinableQueue', ..., 'auto')
"""
import os

import uactor


class DeclarativeActor(uactor.Actor):
    _method_to_typeid_ = {'get_data': 'dict'}

    def __init__(self):
        self.my_data_dict = {'key': 'value'}

    def get_data(self):
        return self.my_data_dict


class ExplicitActor(uactor.Actor):
    def __init__(self):
        self.my_data_dict = {'key': 'value'}

    def get_data(self):
        return uactor.proxy(self.my_data_dict, 'dict')


class MyData:
    def my_method(self):
        return f'my_method ran in process {os.getpid()}'


class MyDataProxy(uactor.BaseProxy):
    _exposed_ = ('my_method',)

    def my_method(self):
        return self._callmethod('my_method')


class CustomActor(uactor.Actor):
    _proxies_ = {'MyDataProxy': MyDataProxy}
    _method_to_typeid_ = {'get_data': 'MyDataProxy'}

    def __init__(self):
        self.my_data = MyData()

    def get_data(self):
        return self.my_data


if __name__ == '__main__':
    for label, actor_class in (('declarative', DeclarativeActor),
                               ('uactor.proxy', ExplicitActor)):
        with actor_class() as actor:
            data = actor.get_data()
            print(f'{label}: {uactor.typeid(data)} proxy, {data.copy()}')

    with CustomActor() as actor:
        data = actor.get_data()
        print(f'custom: {uactor.typeid(data)} proxy, {data.my_method()}')

    try:
        uactor.proxy({}, 'dict')
    except uactor.ProxyError:
        print('outside an actor, uactor.proxy raises ProxyError')

    print('Actor.manager_class.typeids():', uactor.Actor.manager_class.typeids())
    # ('Queue', 'JoinableQueue', 'Event', ..., 'auto', 'actor')

    print('ActorManager.typeids():', uactor.ActorManager.typeids())
    # ('Queue', 'JoinableQueue', 'Event', ..., 'auto')
