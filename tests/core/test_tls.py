"""TLS for networked actors: encrypted calls, mutual authentication, clear failures.

Certificates are generated here (the ``cryptography`` package) into a
temporary directory: a CA, a server certificate for 127.0.0.1 and localhost,
a client certificate, and a second CA with its own server and client
certificates, which the first CA's holders must refuse.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import ipaddress
import multiprocessing
import pickle
import selectors
import socket
import ssl
import sys
import threading
from pathlib import Path

import pytest

import uactor
from tests.core.actors import NetworkActor, XmlActor
from tests.core.tls_actors import AUTHKEY, TLSEcho, client_context, server_context

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(directory: Path, stem: str, key, cert) -> tuple[str, str]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _issue(common_name, issuer_key, issuer_cert=None, *, ca=False, sans=(), usage=None):
    """A certificate for a new key, signed by ``issuer_key`` (self-signed without a cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_key = issuer_key or key
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)),
                                        critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(issuer_key, hashes.SHA256())


def _authority(directory: Path, stem: str) -> dict[str, str]:
    """A CA and the server and client certificates it signs, as file paths."""
    ca_key, ca_cert = _issue(f"uactor test CA {stem}", None, ca=True)
    server = _issue("127.0.0.1", ca_key, ca_cert, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                    sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                          x509.DNSName("localhost")])
    client = _issue(f"uactor client {stem}", ca_key, ca_cert,
                    usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    ca_path, _ = _write(directory, f"{stem}-ca", ca_key, ca_cert)
    server_cert, server_key = _write(directory, f"{stem}-server", *server)
    client_cert, client_key = _write(directory, f"{stem}-client", *client)
    return {"ca": ca_path, "server_cert": server_cert, "server_key": server_key,
            "client_cert": client_cert, "client_key": client_key}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, dict[str, str]]:
    directory = tmp_path_factory.mktemp("pki")
    return {"good": _authority(directory, "good"), "other": _authority(directory, "other")}


def _server_factory(paths, mutual=False):
    """Picklable zero-argument ``ssl_server`` factory (any start method)."""
    return functools.partial(server_context, paths["server_cert"], paths["server_key"],
                             paths["ca"] if mutual else None)


def _client(paths, with_cert=False, trust=None):
    cert = (paths["client_cert"], paths["client_key"]) if with_cert else (None, None)
    return client_context(trust or paths["ca"], *cert)


def _tls_options(paths, mutual=False, **extra):
    return {"ssl_server": _server_factory(paths, mutual),
            "ssl_client": _client(paths, with_cert=mutual), **extra}


# --------------------------------------------------------------------------
# A relay recording the bytes on the wire
# --------------------------------------------------------------------------


class Tap:
    """TCP relay on 127.0.0.1 to ``target``, recording what crosses it (one thread)."""

    def __init__(self, target):
        self.to_actor = bytearray()
        self.to_client = bytearray()
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-tap")
        self._thread.start()

    def _run(self):
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(0.05):
                    if key.data is None:
                        client, _ = self._listener.accept()
                        try:
                            actor = socket.create_connection(self._target, timeout=5)
                        except OSError:  # the actor is gone (a late release)
                            client.close()
                            continue
                        selector.register(client, selectors.EVENT_READ, (actor, self.to_actor))
                        selector.register(actor, selectors.EVENT_READ, (client, self.to_client))
                        continue
                    peer, record = key.data
                    try:
                        data = key.fileobj.recv(65536)
                        if data:
                            record += data
                            peer.sendall(data)
                            continue
                    except OSError:
                        pass
                    for sock in (key.fileobj, peer):
                        with contextlib.suppress(KeyError, ValueError):
                            selector.unregister(sock)
                        sock.close()
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()
            selector.close()

    def close(self):
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def tap_to():
    taps = []

    def make(target):
        taps.append(Tap(target))
        return taps[-1]

    yield make
    for tap in taps:
        tap.close()


# --------------------------------------------------------------------------
# Encrypted calls
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_calls_and_large_payloads_over_tls_under(method, pki):
    paths = pki["good"]
    options = _tls_options(paths, ctx=multiprocessing.get_context(method))
    with uactor.start(TLSEcho, options=options) as owner:
        assert owner.echo("hello") == "hello"
        payload = pickle.PickleBuffer(bytearray(range(256)) * 1024)  # 256 KiB: out of band
        assert bytes(owner.echo(payload)) == bytes(range(256)) * 1024
        assert owner.echo(b"y" * 60_000) == b"y" * 60_000  # in band, > one TLS record
        assert owner.echo(b"y" * 100_000) == b"y" * 100_000  # out of band
        client = TLSEcho.connect(owner.connection_address, AUTHKEY, ssl=_client(paths))
        assert client.getpid() == owner.getpid()
        assert list(client.inner()) == [1, 2, 3]  # result proxy: reached over TLS too


def test_numpy_arrays_travel_out_of_band_over_tls(pki):
    numpy = pytest.importorskip("numpy")
    array = numpy.arange(300_000, dtype="float64")
    with uactor.start(TLSEcho, options=_tls_options(pki["good"])) as owner:
        back = owner.echo({"a": array, "small": numpy.ones(3)})
        assert numpy.array_equal(back["a"], array)
        assert back["small"].tolist() == [1.0, 1.0, 1.0]
        assert owner.echo(1) == 1  # still in step


@pytest.mark.parametrize("size", [(64 << 10) - 1, 64 << 10, 1 << 20])
def test_bytes_and_bytearrays_keep_their_types_over_tls(pki, size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    with uactor.start(TLSEcho, options=_tls_options(pki["good"])) as owner:
        client = TLSEcho.connect(owner.connection_address, AUTHKEY, ssl=_client(pki["good"]))
        sent = [data, bytearray(data), memoryview(data), {"nested": (bytearray(data),)}]
        back = client.echo(sent)
        assert back == sent
        assert [type(item) for item in back[:3]] == [bytes, bytearray, memoryview]
        assert type(back[3]["nested"][0]) is bytearray
        assert client.echo(1) == 1  # still in step


def test_xmlrpclib_serializer_over_tls(pki):
    options = _tls_options(pki["good"], address=("127.0.0.1", 0), authkey=AUTHKEY,
                           serializer="xmlrpclib")
    with uactor.start(XmlActor, options=options) as owner:
        assert owner.add(1, 2) == 3
        assert list(owner.items()) == [1, 2]


def test_tls_is_on_the_wire_and_carries_the_authkey_handshake(pki, tap_to):
    paths = pki["good"]
    marker = "uactor-marker-7f3a1c"
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        address = owner.connection_address
        # A TLS client of our own sees a TLS session, then uactor's hello inside it.
        with socket.create_connection(address, timeout=5) as raw, \
                _client(paths).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert ("IP Address", "127.0.0.1") in tls.getpeercert()["subjectAltName"]
            first = tls.recv(64)
            assert first.startswith(b"uActor\x00")
        # Through a relay: TLS records each way, and the argument is not readable.
        tap = tap_to(address)
        client = TLSEcho.connect(tap.address, AUTHKEY, ssl=_client(paths))
        assert client.echo(marker) == marker
        assert tap.to_actor[:1] == b"\x16" and tap.to_client[:1] == b"\x16"  # handshake
        assert marker.encode() not in tap.to_actor + tap.to_client
        assert b"uActor" not in tap.to_client
        assert owner.echo(marker) == marker


def test_the_relay_does_see_plain_traffic(tap_to):
    """Control for the test above: the same relay reads a plain actor's traffic."""
    marker = "uactor-marker-7f3a1c"
    with NetworkActor() as owner:
        tap = tap_to(owner.connection_address)
        client = NetworkActor.connect(tap.address, b"SECRET")
        client.get_inner().append(marker)
        assert marker.encode() in tap.to_actor
        assert tap.to_client.startswith(b"uActor\x00")


def test_call_deadlines_work_over_tls(pki):
    paths = pki["good"]
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        client = TLSEcho.connect(owner.connection_address, AUTHKEY, ssl=_client(paths),
                                 timeout=10)
        assert client.echo(2) == 2  # waits through poll()
        with pytest.raises(uactor.CallTimeoutError), uactor.deadline(0.2):
            client.sleep(1)
        assert client.echo(3) == 3  # a fresh connection


# --------------------------------------------------------------------------
# Authentication and failures
# --------------------------------------------------------------------------


def test_mutual_tls_accepts_the_right_client_and_rejects_others(pki):
    good, other = pki["good"], pki["other"]
    with uactor.start(TLSEcho, options=_tls_options(good, mutual=True)) as owner:
        address = owner.connection_address
        client = TLSEcho.connect(address, AUTHKEY, ssl=_client(good, with_cert=True))
        assert client.getpid() == owner.getpid()
        with pytest.raises(uactor.ActorConnectionError,
                           match="127.0.0.1:.* requires a client certificate"):
            TLSEcho.connect(address, AUTHKEY, ssl=_client(good))
        stranger = client_context(good["ca"], other["client_cert"], other["client_key"])
        with pytest.raises(uactor.ActorConnectionError, match="refused the TLS connection"):
            TLSEcho.connect(address, AUTHKEY, ssl=stranger)
        assert owner.echo("still serving") == "still serving"
        assert client.echo("still serving") == "still serving"


def test_a_server_certificate_from_an_unknown_ca_is_rejected(pki):
    good, other = pki["good"], pki["other"]
    with uactor.start(TLSEcho, options=_tls_options(good)) as owner:
        host, port = owner.connection_address
        with pytest.raises(uactor.ActorConnectionError,
                           match=f"certificate of 127.0.0.1:{port} failed verification") as info:
            TLSEcho.connect((host, port), AUTHKEY, ssl=_client(good, trust=other["ca"]))
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        assert owner.echo(1) == 1


def test_a_wrong_authkey_inside_tls_is_an_authkey_error(pki):
    paths = pki["good"]
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        with pytest.raises(uactor.AuthkeyError, match="was rejected"):
            TLSEcho.connect(owner.connection_address, b"WRONG", ssl=_client(paths))
        assert owner.echo(1) == 1


def test_a_plain_client_to_a_tls_actor_fails_clearly(pki):
    with uactor.start(TLSEcho, options=_tls_options(pki["good"])) as owner:
        with pytest.raises(uactor.ActorConnectionError, match="requires TLS"):
            TLSEcho.connect(owner.connection_address, AUTHKEY, timeout=1)
        assert owner.echo(1) == 1  # the failed attempt did not disturb the owner


def test_a_tls_client_to_a_plain_actor_fails_clearly(pki):
    with NetworkActor() as owner:
        address = owner.connection_address
        with pytest.raises(uactor.ActorConnectionError,
                           match="did not answer as a TLS server"):
            NetworkActor.connect(address, b"SECRET", ssl=_client(pki["good"]))
        plain = NetworkActor.connect(address, b"SECRET")  # the failure left no TLS behind
        assert plain.getpid() == owner.getpid()


# --------------------------------------------------------------------------
# Proxies routed over TLS
# --------------------------------------------------------------------------


def test_forwarded_and_result_proxies_use_the_tls_route(pki):
    paths = pki["good"]
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        port = owner.connection_address[1]
        # Dial another name for the actor: its proxies carry 127.0.0.1 and are
        # translated to this route, over TLS.
        client = TLSEcho.connect(("localhost", port), AUTHKEY, ssl=_client(paths))
        forwarded = client.forwarded()
        assert forwarded._token.address == ("localhost", port)
        assert list(forwarded) == [1, 2, 3]
        result = client.inner()
        assert result._token.address == ("localhost", port)
        result.append(4)
        assert list(forwarded) == [1, 2, 3, 4]


def test_a_proxy_to_an_unknown_tls_actor_fails_at_once_then_works_after_connect(pki):
    paths = pki["good"]
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        leaf_address = owner.start_leaf(_server_factory(paths),
                                        functools.partial(client_context, paths["ca"]))
        with pytest.raises(uactor.ActorConnectionError, match="requires TLS.*ssl=context"):
            owner.get_leaf()
        connected = TLSEcho.connect(leaf_address, AUTHKEY, ssl=_client(paths))
        leaf = owner.get_leaf()
        assert leaf.getpid() == connected.getpid() != owner.getpid()


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def test_tls_options_are_checked(pki):
    paths = pki["good"]
    server = server_context(paths["server_cert"], paths["server_key"])
    client = _client(paths)
    with pytest.raises(ValueError, match="go together"):
        uactor.start(TLSEcho, options={"ssl_server": server})
    with pytest.raises(ValueError, match="server-side context"):
        TLSEcho.connect(("127.0.0.1", 1), AUTHKEY, ssl=server)
    if sys.version_info >= (3, 10):  # 3.9's create_default_context() is side-neutral
        with pytest.raises(ValueError, match="client-side context"):
            uactor.start(TLSEcho, options={"ssl_server": client, "ssl_client": client})
    with pytest.raises(TypeError, match="must be an ssl.SSLContext"):
        TLSEcho.connect(("127.0.0.1", 1), AUTHKEY, ssl="tls")
    with pytest.raises(ValueError, match="needs a TCP address"):
        uactor.start(TLSEcho, options={"address": None, "ssl_server": server,
                                       "ssl_client": client})
    spawn = multiprocessing.get_context("spawn")
    with pytest.raises(TypeError, match="zero-argument callable"):
        uactor.start(TLSEcho, options={"ssl_server": server, "ssl_client": client,
                                       "ctx": spawn})


def test_a_factory_returning_something_else_fails_the_start(pki):
    options = _tls_options(pki["good"])
    options["ssl_server"] = dict
    with pytest.raises(TypeError, match="returned {}, not an ssl.SSLContext"):
        uactor.start(TLSEcho, options=options)


def test_awaited_calls_pipeline_over_tls(pki):
    """The asyncio pipeline drives a TLS socket without blocking: many calls, large frames."""
    import asyncio

    paths = pki["good"]
    with uactor.start(TLSEcho, options=_tls_options(paths)) as owner:
        async def main():
            echoes = await asyncio.gather(*[uactor.call_async(owner.echo, i)
                                            for i in range(300)])
            big = b"z" * 3_000_000  # many TLS records each way, tags streamed
            back = await uactor.call_async(owner.echo, big)
            inner = await uactor.call_async(owner.inner)  # result proxy
            return echoes, back == big, list(inner)
        echoes, same, inner = asyncio.run(main())
        assert echoes == list(range(300)) and same and inner == [1, 2, 3]
        assert owner.echo("sync") == "sync"
