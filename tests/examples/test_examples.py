"""Every script in examples/ runs, and prints what its header says.

Each example runs in its own subprocess (see ``_runner.py``); networked ones
listen on 127.0.0.1 with port 0 and zeroconf runs on loopback only, with an
instance name unique to the test.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import urllib.request

import pytest

from tests.netns import private_net_prefix, private_net_skip_reason

from ._runner import EXAMPLES, Example, run

#: How a list proxy's class prints: the spec shows multiprocessing's ListProxy,
#: uactor may print its own proxy class (never the builtin list).
PROXY_CLASS = r"<class '(?!list')[\w.\[\]]*(ListProxy|Proxy\[list\])'>"

#: Modules meant to be imported by other examples; run alone they do nothing.
LIBRARIES = ('proxy_forwarding.py', 'network_proxy_forwarding.py')


def pids_in(lines: list[str], pattern: str) -> list[int]:
    found = [re.search(pattern, line) for line in lines]
    assert all(found), (pattern, lines)
    return [int(match.group(1)) for match in found]


# -- housekeeping -----------------------------------------------------------

def test_every_example_is_run_by_a_test():
    with open(__file__) as file:
        source = file.read()
    tested = set(re.findall(r"'(\w+\.py)'", source))
    present = {path.name for path in EXAMPLES.glob('*.py')}
    assert present - tested == set(), 'examples without a test'
    assert tested - present == set(), 'tests of missing examples'


@pytest.mark.parametrize('path', sorted(EXAMPLES.glob('*.py')), ids=lambda p: p.name)
def test_header_says_how_to_run_it_and_what_it_prints(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring, f'{path.name} has no header docstring'
    if path.name in LIBRARIES:
        assert 'library' in docstring
    else:
        assert f'python {path.name}' in docstring
        assert 'Prints' in docstring


@pytest.mark.parametrize('script', LIBRARIES)
def test_library_module_alone_does_nothing(script):
    lines, _ = run(script)
    assert lines == []


# -- quickstart and design ----------------------------------------------------

def test_usage():
    lines, pid = run('usage.py')
    assert lines[0] == f'Hello from process {pid}!'
    [actor_pid] = pids_in(lines[1:], r'^Hello from subprocess (\d+)!$')
    assert actor_pid != pid


def test_quickstart_first_actor():
    lines, _ = run('quickstart_first_actor.py')
    assert lines == ['my_method returned True',
                     'my_method returned True (inside a with block)']


def test_quickstart_result_proxies():
    lines, _ = run('quickstart_result_proxies.py')
    assert lines == [
        "declarative: dict proxy, the actor now holds {'answer': 42}",
        "uactor.proxy: dict proxy, the actor now holds {'answer': 42}",
    ]


def test_quickstart_async():
    lines, _ = run('quickstart_async.py')
    assert [line.split(':')[0] for line in lines] == [
        'one call', 'two calls on one actor', 'one call on each of two actors']
    assert all(re.search(r'ready after \d+\.\ds$', line) for line in lines), lines


def test_async_web():
    lines, _ = run('async_web.py')
    assert lines == [
        'GET /add?a=2&b=3 -> 200 {"result": 5}',
        'GET /square?x=7 -> 200 {"result": 49}',
        'GET /add?a=2 -> 400 {"error": "add needs integers a and b"}',
        'GET /nowhere -> 404 {"error": "no route /nowhere"}',
        '10 requests at once -> [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]',
    ]


def test_design_actors():
    lines, pid = run('design_actors.py')
    assert lines[0] == f'My process id is {pid}'
    [actor_pid] = pids_in(lines[1:], r'^Actor process id is (\d+)$')
    assert actor_pid != pid


def test_design_proxies():
    lines, pid = run('design_proxies.py')
    assert lines[:4] == [
        "declarative: dict proxy, {'key': 'value'}",
        "uactor.proxy: dict proxy, {'key': 'value'}",
        lines[2],
        'outside an actor, uactor.proxy raises ProxyError',
    ]
    [actor_pid] = pids_in(lines[2:3], r'^custom: MyDataProxy proxy, '
                                      r'my_method ran in process (\d+)$')
    assert actor_pid != pid
    label, _, typeids = lines[4].partition(': ')
    assert label == 'Actor.manager_class.typeids()'
    actor_typeids = ast.literal_eval(typeids)
    label, _, typeids = lines[5].partition(': ')
    assert label == 'ActorManager.typeids()'
    manager_typeids = ast.literal_eval(typeids)
    for typeid in ('Queue', 'Event', 'dict', 'list', 'Pool', 'AsyncResult',
                   'Iterator', 'auto'):
        assert typeid in actor_typeids and typeid in manager_typeids, typeid
    assert 'actor' in actor_typeids
    assert 'actor' not in manager_typeids


# -- the basics ---------------------------------------------------------------

def test_inheritance():
    lines, pid = run('inheritance.py')
    assert lines[0] == f'[{pid}] Hello everyone.'
    cat, tiger = pids_in(lines[1:], r"^\[(\d+)\] Hi, it's Mr\. \w+\. \w+\.$")
    assert lines[1].endswith("Hi, it's Mr. Whiskers. Meow.")
    assert lines[2].endswith("Hi, it's Mr. Fangs. Roar.")
    assert len({pid, cat, tiger}) == 3


def test_configuration_inheritance():
    lines, _ = run('configuration_inheritance.py')
    assert lines == [
        "It's Parent.",
        "It's Child.",
        "It's Child. Hello.",
        "'Parent.proxy_class' object has no attribute 'private'",
        "'Child.proxy_class' object has no attribute 'private'",
    ]


def test_lifetime():
    lines, _ = run('lifetime.py')
    assert lines == ['Initialized', 'Context enter', 'Context exit', 'Shutdown',
                     'Initialized', 'Shutdown']


def test_result_proxies():
    lines, _ = run('result_proxies.py')
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(rf"{PROXY_CLASS} list \[1, 2, 3\]", line), line


def test_serialized_proxies():
    lines, _ = run('serialized_proxies.py')
    assert lines[0] == "<class 'list'> [1, 2, 3]"
    assert re.fullmatch(rf"{PROXY_CLASS} \[1, 2, 3\]", lines[1]), lines


def test_synchronization_proxies():
    lines, _ = run('synchronization_proxies.py')
    assert lines == ['Not ready', 'Ready']


def test_asynchronous_proxies():
    lines, _ = run('asynchronous_proxies.py')
    assert len(lines) == 2
    assert re.fullmatch(r'apply_async returned after \d+(\.\d+)?s', lines[0])
    assert re.fullmatch(r'get returned after \d+(\.\d+)?s', lines[1])


def test_proxy_forwarding_error():
    lines, _ = run('proxy_forwarding_error.py')
    assert len(lines) == 1
    assert lines[0].startswith('AuthkeyError: '), lines


def test_proxy_forwarding_connect():
    lines, pid = run('proxy_forwarding_connect.py')
    [other] = pids_in(lines, r'^Hello from MyOtherActor in process (\d+)$')
    assert other != pid


def test_proxy_forwarding_fallback():
    lines, pid = run('proxy_forwarding_fallback.py')
    assert lines[0] == 'AuthkeyError caught, connecting to MyOtherActor'
    [other] = pids_in(lines[1:], r'^Hello from MyOtherActor in process (\d+)$')
    assert other != pid


def test_method_callbacks():
    lines, _ = run('method_callbacks.py')
    assert lines == ['pong']


# -- advanced patterns --------------------------------------------------------

def test_sticky_processes():
    lines, pid = run('sticky_processes.py')
    if lines and lines[0].startswith('Skipped: '):
        pytest.skip(lines[0])
    found = [re.fullmatch(r'Actor process (\d+) runs on cores \[(\d+)\]', line)
             for line in lines]
    assert lines and all(found), lines
    pids = [int(match.group(1)) for match in found]
    cores = [int(match.group(2)) for match in found]
    assert len(set(pids)) == len(pids) and pid not in pids
    assert len(set(cores)) == len(cores)


@pytest.mark.parametrize('script', ['actor_pool_client_side.py',
                                    'actor_pool_async_results.py'])
def test_actor_pool(script):
    lines, pid = run(script)
    assert len(lines) == 1
    pids = ast.literal_eval(lines[0])
    assert len(pids) == 5
    assert len(set(pids[:4])) == 4, 'round-robin over 4 actors'
    assert pids[4] == pids[0]
    assert pid not in pids


def test_shared_memory():
    lines, pid = run('shared_memory.py')
    assert lines[0] == f'Running on {pid}'
    [actor_pid] = pids_in(lines[1:], r'^Shared memory from (\d+)\.$')
    assert actor_pid != pid


# -- networking ---------------------------------------------------------------

def test_network_actor_and_client():
    with Example('network_actor.py') as server:
        match = server.expect(r'^Actor process (\d+) at 127\.0\.0\.1:(\d+)$')
        actor_pid, port = match.groups()
        assert int(actor_pid) != server.pid

        lines, _ = run('network_client.py', f'localhost:{port}')
        assert lines == [f'Actor process {actor_pid} at localhost:{port}']

        assert server.interrupt() == 0
        assert server.check()[-1] == 'Stopped'


def test_network_proxy_forwarding_error():
    lines, _ = run('network_proxy_forwarding_error.py')
    assert len(lines) == 1
    assert lines[0].startswith('AuthkeyError: '), lines


def test_network_proxy_forwarding_connect():
    lines, pid = run('network_proxy_forwarding_connect.py')
    match = re.fullmatch(r'MyOtherActor bound to 127\.0\.0\.1:(\d+), '
                         r'reached at localhost:(\d+)', lines[0])
    assert match and match.group(1) == match.group(2), lines
    [other] = pids_in(lines[1:], r'^MyOtherActor process id is (\d+)$')
    assert other != pid


def test_network_actor_shutdown():
    with Example('network_actor_shutdown.py') as server:
        port = server.expect(r'^Waiting for remote shutdown at 127\.0\.0\.1:(\d+)$'
                             ).group(1)
        lines, _ = run('network_actor_shutdown_client.py', f'localhost:{port}')
        assert lines == ['Shutdown requested']

        assert server.wait() == 0, 'the server stops by itself'
        assert server.check()[-1] == 'Remote shutdown received'


def test_network_actor_registry():
    ports_pattern = r'^Actors listening at ports (\[[\d, ]*\])$'
    with Example('network_actor_registry.py', '--actors', '2') as server:
        port = server.expect(r'^Registry listening at 127\.0\.0\.1:(\d+)$').group(1)
        first = ast.literal_eval(server.expect(ports_pattern).group(1))

        with Example('network_actor_registry_register.py', f'localhost:{port}',
                     '--actors', '2') as registrar:
            second = ast.literal_eval(registrar.expect(ports_pattern).group(1))
            all_ports = set(first) | set(second)
            assert len(all_ports) == 4

            lines, pid = run('network_actor_registry_usage.py',
                             f'localhost:{port}', '--picks', '8')
            found = [re.fullmatch(r'Actor at port (\d+) has pid (\d+)', line)
                     for line in lines]
            assert len(lines) == 8 and all(found), lines
            picked = [int(match.group(1)) for match in found]
            assert set(picked) == all_ports
            assert all(picked.count(p) == 2 for p in all_ports), 'round-robin'
            pids = {int(match.group(2)) for match in found}
            assert len(pids) == 4 and pid not in pids

            assert registrar.interrupt() == 0
            assert registrar.check()[-1] == 'Stopped'
        assert server.interrupt() == 0
        assert server.check()[-1] == 'Stopped'


def test_network_actor_zeroconf(unique_name):
    instance = f'{unique_name}._uactor._tcp.local.'
    with Example('network_actor_zeroconf.py', '--name', unique_name) as server:
        server.expect(rf'^Published {re.escape(instance)} at 127\.0\.0\.1:\d+$')
        lines, pid = run('network_actor_zeroconf_client.py', '--name', unique_name)
        assert lines[0] == f'Service {instance} discovered'
        [actor_pid] = pids_in(lines[1:], r'^NetworkActor\.getpid returned (\d+)$')
        assert actor_pid not in (pid, server.pid)

        assert server.interrupt() == 0
        assert server.check()[-1] == 'Stopped'


# -- the main job: registry node, mDNS publication, discovery -------------------

def check_demo(lines: list[str], pid: int, bind: str) -> None:
    """The demo's output: who listened where, what was found and called."""
    text = '\n'.join(lines)
    bind = re.escape(bind)
    node_port = re.fullmatch(rf'registry node listening on {bind}:(\d+)',
                             lines[0]).group(1)
    # The status page is served on loopback, whatever the node's --host.
    assert re.fullmatch(r'registry node status page on http://127\.0\.0\.1:\d+/',
                        lines[1]), lines[1]

    workers = dict(re.findall(rf'^publisher: worker (\d+) listening on '
                              rf'{bind}:(\d+), published and registered$',
                              text, re.MULTILINE))
    assert len(workers) == 2 and pid not in map(int, workers), text
    assert 'publisher: ready' in lines

    port = re.search(r'^client: discovered a worker at 127\.0\.0\.1:(\d+) '
                     r'over mDNS$', text, re.MULTILINE).group(1)
    assert port in workers.values()
    called = re.search(r'^client: worker (\d+) says 6 \* 7 = 42$', text,
                       re.MULTILINE).group(1)
    assert workers[called] == port, 'the discovered worker answered'

    assert (f'client: found the registry node at 127.0.0.1:{node_port} over mDNS'
            in lines)
    picks = re.findall(r'^client: registry picked worker (\d+) at '
                       r'127\.0\.0\.1:(\d+)$', text, re.MULTILINE)
    assert len(picks) == 4 and all(workers[w] == p for w, p in picks), text
    assert sorted(w for w, _ in picks) == sorted(2 * list(workers)), 'round-robin'

    assert lines[-2:] == ['publisher: stopped, adverts withdrawn',
                          'registry node stopped']


def test_demo(key_home):
    # Loopback only: the loopback guard fails any zeroconf on another interface.
    # No key given: the node writes one only this user can read, and the
    # publisher and client find it there.
    lines, pid = run('demo.py', timeout=120)
    check_demo(lines, pid, bind='127.0.0.1')
    assert key_home.stat().st_mode & 0o777 == 0o600
    assert len(key_home.read_bytes().strip()) == 64


@pytest.mark.parametrize('store, binary', [('redis', 'redis-server'), ('etcd', 'etcd')])
def test_registry_fleet(store, binary):
    lines, pid = run('registry_fleet.py', '--store', store, timeout=120)
    if shutil.which(binary) is None:  # CI installs both: there it always runs
        assert len(lines) == 1 and f'needs {binary} installed' in lines[0], lines
        return
    assert re.fullmatch(rf'store: {store}://127\.0\.0\.1:\d+(/0)?', lines[0]), lines
    nodes = [re.fullmatch(rf'node {n} listening on (127\.0\.0\.1:\d+)', line).group(1)
             for n, line in zip((1, 2, 3), lines[1:4])]
    assert lines[4] == f'node 1 sees its peers: {", ".join(sorted(nodes[1:]))}'
    workers = [int(pid) for pid in re.findall(r'^owner: worker (\d+) registered at '
                                              r'127\.0\.0\.1:\d+$', '\n'.join(lines[5:7]),
                                              re.MULTILINE)]
    assert len(workers) == 2 and pid not in workers
    called = pids_in(lines[7:9], r'^client: worker (\d+) says 6 \* 7 = 42$')
    assert sorted(called) == sorted(workers)  # picked in turn
    assert lines[9] == 'killed node 1 (kill -9)'
    after = pids_in(lines[10:12], r'^client: worker (\d+) says 6 \* 7 = 42 '
                                  r'\(node 1 is gone\)$')
    assert sorted(after) == sorted(workers)
    assert re.fullmatch(r'node 2 still lists 2 workers, \d+ s after node 1 died',
                        lines[12]), lines[12]
    assert lines[13:] == ['stopped']


def test_demo_stays_with_its_status_page_until_interrupted():
    with Example('demo.py', '--stay', '--actors', '2') as demo:
        url = demo.expect(r'^demo: running until Ctrl-C; status page on (\S+)$',
                          timeout=120).group(1)
        with urllib.request.urlopen(url + 'status.json', timeout=10) as response:
            status = json.loads(response.read())
        [workers] = [service for service in status['services']
                     if service['name'] == 'Worker']
        assert len(workers['actors']) == 2
        assert status['totals']['picks_total'] == 4  # the client's picks
        demo.proc.terminate()  # handled like Ctrl-C
        assert demo.wait() == 0
        lines = demo.check()
    check_demo([line for line in lines if not line.startswith('demo: ')], demo.pid,
               bind='127.0.0.1')


@pytest.mark.netns
@pytest.mark.skipif(private_net_skip_reason() is not None,
                    reason=private_net_skip_reason() or '')
def test_demo_lan_in_private_network_namespace():
    # --lan listens on 0.0.0.0 and multicasts on every interface: run it
    # where the only interface is a private loopback.
    lines, pid = run('demo.py', '--lan', timeout=120, prefix=private_net_prefix(),
                     env={'UACTOR_TEST_NETNS': '1'})
    check_demo(lines, pid, bind='0.0.0.0')
