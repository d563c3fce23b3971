"""Test-only guard, imported at start-up by every example process the tests run.

The tests put this directory first on ``PYTHONPATH``.  Once ``zeroconf`` is
imported, creating a ``zeroconf.Zeroconf`` on anything but loopback
(``interfaces=['127.0.0.1']``) raises, so an example or the demo that would
send multicast on a real interface fails its test instead of doing it.
Inside a private network namespace (``UACTOR_TEST_NETNS=1``, set by tests
run by ``tests.netns.private_net_prefix``) every interface is loopback and the guard is off.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

LOOPBACK = ['127.0.0.1']


def _guard(module):
    original = module.Zeroconf.__init__

    def __init__(self, interfaces=module.InterfaceChoice.All, *args, **kwargs):
        if not isinstance(interfaces, (list, tuple)) or list(interfaces) != LOOPBACK:
            raise RuntimeError(
                f'test guard: zeroconf.Zeroconf(interfaces={interfaces!r}) would '
                f'use a real network interface; examples must pass '
                f'interfaces={LOOPBACK!r} unless --lan is given')
        original(self, interfaces, *args, **kwargs)

    module.Zeroconf.__init__ = __init__


class _Loader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _guard(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != 'zeroconf':
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


if os.environ.get('UACTOR_TEST_NETNS') != '1':
    sys.meta_path.insert(0, _Finder())
