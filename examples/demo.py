"""Demo of the main job: a registry node, actors published over mDNS, a client.

``python demo.py`` runs three roles, each in its own process, on this host:

1. a **registry node** (``python -m registry``, the ``uactor-registry``
   command), which advertises itself over mDNS and serves a live status page
   on loopback (``--http``), whose URL the demo prints; started without a
   key, it writes a new random one to a file only you can read (or reuses
   the one it wrote before), where the other roles find it
   (``registry.find_authkey``);
2. a **publisher** (``python demo.py publish``) starting ``--actors`` worker
   actors, advertising each over mDNS and registering each with the registry
   node it found over mDNS;
3. a **client** (``python demo.py client``) that knows no address at all: it
   discovers a worker over mDNS and calls it, then finds the registry node
   over mDNS and calls workers picked by the registry, round-robin.

Then it stops the publisher (its adverts are withdrawn, its registrations
dropped) and the registry node.  With ``--stay`` it keeps the node and the
publisher running until Ctrl-C first, so the status page can be looked at.

Everything stays on this host: actors listen on 127.0.0.1 and zeroconf sends
and listens on loopback only.  ``--lan`` listens on every interface and uses
mDNS on the local network instead; run the roles on different hosts with the
same key in ``UACTOR_AUTHKEY`` (the node's ready line names its key file)::

    uactor-registry --host 0.0.0.0                          # host A
    UACTOR_AUTHKEY=$(cat KEYFILE) python demo.py publish --lan  # host B
    UACTOR_AUTHKEY=$(cat KEYFILE) python demo.py client --lan   # host C

Run (from examples/)::

    python demo.py [--lan] [--actors N] [--stay]

Prints (addresses, ports and process ids vary)::

    registry node listening on 127.0.0.1:41000
    registry node status page on http://127.0.0.1:41003/
    publisher: worker 5101 listening on 127.0.0.1:41001, published and registered
    publisher: worker 5102 listening on 127.0.0.1:41002, published and registered
    publisher: ready
    client: discovered a worker at 127.0.0.1:41001 over mDNS
    client: worker 5101 says 6 * 7 = 42
    client: found the registry node at 127.0.0.1:41000 over mDNS
    client: registry picked worker 5101 at 127.0.0.1:41001
    client: registry picked worker 5102 at 127.0.0.1:41002
    client: registry picked worker 5101 at 127.0.0.1:41001
    client: registry picked worker 5102 at 127.0.0.1:41002
    publisher: stopped, adverts withdrawn
    registry node stopped
"""
import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import discovery
import registry
import uactor

#: Longest any step of the demo may take (s): a node or publisher getting
#: ready, a discovery, a client run, a clean stop.
STEP_TIMEOUT = 30.0


class Worker(uactor.Actor):
    """The actor this demo publishes: it multiplies."""

    def getpid(self):
        return os.getpid()

    def multiply(self, a, b):
        return a * b


# -- roles ------------------------------------------------------------------

def interfaces_for(lan):
    """Where mDNS goes: loopback only, unless --lan (every interface)."""
    return None if lan else ['127.0.0.1']


def publish(args, authkey):
    """Start workers, advertise and register them, serve until interrupted."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    host = '0.0.0.0' if args.lan else '127.0.0.1'
    interfaces = interfaces_for(args.lan)
    options = {'address': (host, 0), 'authkey': authkey}
    workers, closing = [], []
    try:
        node = discovery.find_registry(authkey, interfaces=interfaces,
                                       timeout=STEP_TIMEOUT)
        for _ in range(args.actors):
            worker = uactor.start(Worker, options=options)
            workers.append(worker)
            closing.append(discovery.publish(worker, authkey=authkey,
                                             interfaces=interfaces))
            closing.append(registry.register_actor(node, worker, authkey=authkey))
            bind_host, port = worker.connection_address
            print(f'publisher: worker {worker.getpid()} listening on '
                  f'{bind_host}:{port}, published and registered')
        print('publisher: ready')
        while True:  # serve until SIGINT or SIGTERM
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for resource in reversed(closing):  # unregister, withdraw, disconnect
            _close(resource)
        for worker in workers:
            worker.shutdown()
    print('publisher: stopped, adverts withdrawn')


def client(args, authkey):
    """Find a worker and the registry over mDNS; call workers through both."""
    interfaces = interfaces_for(args.lan)

    # Connected proxies, not owners: leaving their with block releases the
    # connection and never stops the worker or the registry node.
    with discovery.discover(Worker, authkey, interfaces=interfaces,
                            timeout=STEP_TIMEOUT) as worker:
        host, port = worker.connection_address
        print(f'client: discovered a worker at {host}:{port} over mDNS')
        print(f'client: worker {worker.getpid()} says 6 * 7 = {worker.multiply(6, 7)}')

    with discovery.find_registry(authkey, interfaces=interfaces,
                                 timeout=STEP_TIMEOUT) as node:
        host, port = node.connection_address
        print(f'client: found the registry node at {host}:{port} over mDNS')
        for _ in range(args.picks):
            with registry.connect_actor(node, Worker, authkey,
                                        timeout=STEP_TIMEOUT) as worker:
                host, port = worker.connection_address
                print(f'client: registry picked worker {worker.getpid()} at '
                      f'{host}:{port}')


def run_all(args):
    """Registry node, publisher and client, each in its own process.

    The node finds or writes the key; the other roles find it the same way.
    """
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    here = os.path.dirname(os.path.abspath(__file__))
    lan = ['--lan'] if args.lan else []

    node_command = [sys.executable, '-m', 'registry', '--port', '0',
                    '--host', '0.0.0.0' if args.lan else '127.0.0.1',
                    '--http', '127.0.0.1:0', '--log-level', 'WARNING']
    with _Child(node_command, env) as node:
        line = node.read_until(r'^registry listening on \S+ \(authkey ')
        print(f'registry node listening on {line.split()[3]}', flush=True)
        url = node.read_until(r'^status page on (\S+)$').split()[-1]
        print(f'registry node status page on {url}', flush=True)

        publisher_command = [sys.executable, os.path.join(here, 'demo.py'),
                             'publish', '--actors', str(args.actors), *lan]
        with _Child(publisher_command, env) as publisher:
            publisher.read_until(r'^publisher: ready$', echo=True)
            sys.stdout.flush()  # our lines first, then the client's

            client_command = [sys.executable, os.path.join(here, 'demo.py'),
                              'client', '--picks', str(2 * args.actors), *lan]
            status = subprocess.run(client_command, env=env,
                                    timeout=STEP_TIMEOUT * 3).returncode
            if status:
                sys.exit(f'demo: the client failed with status {status}')
            if args.stay:
                _stay(url)

            publisher.stop(echo=True)
        node.stop()
    print('registry node stopped')


# -- plumbing ---------------------------------------------------------------

def _stay(url):
    """Keep everything running until Ctrl-C (or SIGTERM)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(f'demo: running until Ctrl-C; status page on {url}', flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass


def _exit_on_signal(signum, frame):
    raise KeyboardInterrupt  # clean up as for Ctrl-C


def _close(resource):
    try:
        resource.close()
    except Exception as exc:  # keep closing the rest
        print(f'publisher: could not close {resource!r}: {exc}', file=sys.stderr)


class _Child:
    """A child process whose stdout we read line by line, with deadlines."""

    def __init__(self, command, env):
        # The parent, not the terminal, stops the child: shield it from the
        # SIGINT a Ctrl-C sends to the whole foreground process group.
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self._buffer = b''

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def _lines(self, timeout):
        """Yield stdout lines until EOF or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                while b'\n' in self._buffer:
                    line, self._buffer = self._buffer.split(b'\n', 1)
                    yield line.decode(errors='replace')
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError(f'{self.proc.args[1]}: no output within '
                                       f'{timeout}s')
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self._buffer += chunk

    def read_until(self, pattern, echo=False, timeout=STEP_TIMEOUT):
        """Read lines until one matches ``pattern``; return it."""
        for line in self._lines(timeout):
            if echo:
                print(line, flush=True)
            if re.search(pattern, line):
                return line
        sys.exit(f'demo: {" ".join(self.proc.args[1:3])} exited '
                 f'({self.proc.wait()}) before it was ready')

    def stop(self, echo=False):
        """SIGINT, then SIGTERM, then SIGKILL, each with a deadline; idempotent."""
        if self.proc.stdout.closed:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                continue
        self.proc.wait()
        try:
            for line in self._lines(STEP_TIMEOUT):
                if echo:
                    print(line)
        except TimeoutError:
            pass
        self.proc.stdout.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('role', nargs='?', default='all',
                        choices=('all', 'publish', 'client'),
                        help='run every role (default), or only one of them')
    parser.add_argument('--lan', action='store_true',
                        help='listen and use mDNS on the local network '
                             '(default: this host only, loopback)')
    parser.add_argument('--actors', type=int, default=2,
                        help='workers the publisher starts (default: %(default)s)')
    parser.add_argument('--picks', type=int, default=4,
                        help='workers the client picks from the registry '
                             '(default: %(default)s)')
    parser.add_argument('--stay', action='store_true',
                        help='after the client, keep the node and the publisher '
                             'running until Ctrl-C (to look at the status page)')
    args = parser.parse_args(argv)

    try:
        if args.role == 'all':
            run_all(args)
            return
        authkey = registry.find_authkey()  # as the registry node found it
        if args.role == 'publish':
            publish(args, authkey)
        else:
            client(args, authkey)
    except (discovery.DiscoveryError, registry.AuthkeyLookupError) as exc:
        sys.exit(f'demo {args.role}: {exc}')  # nothing found in time, or no key
    except KeyboardInterrupt:  # children were stopped on the way out
        sys.exit(f'demo {args.role}: interrupted')


if __name__ == '__main__':
    # Run main() of the importable module, not of __main__: the Worker class
    # is then demo.Worker, the class clients import and discovery advertises.
    from demo import main
    main()
