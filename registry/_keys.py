"""Where the registry's authkey comes from: one lookup order for every tool.

:func:`find_authkey` returns the first of:

1. the ``authkey`` argument (or the file named by ``authkey_file``);
2. ``$UACTOR_AUTHKEY`` (the key itself) or ``$UACTOR_AUTHKEY_FILE`` (a file
   holding it), only one of the two;
3. the *default key file*, ``uactor/authkey`` in ``$XDG_RUNTIME_DIR`` (when
   that is a private directory of this user, as the XDG specification
   requires), else in ``$XDG_STATE_HOME`` (default ``~/.local/state``).

A registry node started with none of these writes a fresh key to the default
key file (:func:`create_default_key`) and names the file on its ready line,
so helpers, clients and examples run by the same user on the same host find
it with no configuration, while other users can neither read it nor connect.

The default key file is only trusted when it is a regular file (not a
symlink) owned by this user and readable by nobody else, in a directory owned
by this user and closed to others (``0700``); anything else is refused with
an error saying how to fix it.  Key files named explicitly are read as given,
with a warning when other users can read them.

A key file holds the key's bytes; one trailing newline is ignored.  Generated
keys are 32 random bytes from :mod:`secrets`, written as 64 hexadecimal
characters (the key is those characters), so they also fit in
``$UACTOR_AUTHKEY``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Union

from ._errors import AuthkeyLookupError, check_key

__all__ = [
    "AUTHKEY_ENV",
    "AUTHKEY_FILE_ENV",
    "KeySource",
    "create_default_key",
    "default_key_paths",
    "find_authkey",
    "lookup_authkey",
]

logger = logging.getLogger(__name__)

#: Environment variable holding the authkey itself.
AUTHKEY_ENV = "UACTOR_AUTHKEY"

#: Environment variable naming a file that holds the authkey.
AUTHKEY_FILE_ENV = "UACTOR_AUTHKEY_FILE"

#: Random bytes in a generated key (written as twice as many hex digits).
KEY_BYTES = 32

#: Longest key file read (bytes): a key, not a document.
MAX_KEY_FILE_SIZE = 4096

#: The default key file's directory and name inside the base directories.
_DIRECTORY = "uactor"
_FILE_NAME = "authkey"

PathLike = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass(frozen=True)
class KeySource:
    """An authkey and where it came from (for messages, never the key)."""

    key: bytes = dataclasses.field(repr=False)
    #: ``"argument"``, ``"$UACTOR_AUTHKEY"`` or the path of the key file.
    origin: str
    #: The key file, when the key came from one.
    path: Path | None = None

    def describe(self) -> str:
        """``authkey in PATH`` or ``authkey from $UACTOR_AUTHKEY`` (or the argument)."""
        return f"authkey in {self.path}" if self.path else f"authkey from {self.origin}"


# --------------------------------------------------------------------------
# Where the default key file lives
# --------------------------------------------------------------------------

def _private_runtime_dir() -> Path | None:
    """``$XDG_RUNTIME_DIR`` when it is absolute, ours and closed to others."""
    value = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isabs(value):
        return None
    try:
        info = os.stat(value)
    except OSError:
        return None
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & 0o077):
        logger.debug("ignoring XDG_RUNTIME_DIR %s: not a private directory of "
                     "this user", value)
        return None
    return Path(value)


def _state_dir() -> Path | None:
    """``$XDG_STATE_HOME``, else ``~/.local/state``; None without a home."""
    value = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(value):
        return Path(value)
    try:
        home = Path.home()
    except (KeyError, RuntimeError):  # no HOME and no passwd entry
        return None
    return home / ".local" / "state"


def default_key_paths() -> list[Path]:
    """The default key file's possible places, in lookup order."""
    bases = [_private_runtime_dir(), _state_dir()]
    return [base / _DIRECTORY / _FILE_NAME for base in bases if base is not None]


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def _strip(data: bytes) -> bytes:
    """The key in a file's bytes: one trailing newline (LF or CRLF) removed."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def _read_key_file(path: Path, *, private: bool) -> bytes:
    """The key in ``path``.

    ``private``: the default key file, refused unless it is a regular file
    owned by this user and closed to others; other key files only warn.
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if private:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AuthkeyLookupError(
                f"the default authkey file {path} is a symbolic link; delete it "
                f"(a registry node started without a key writes a new one)") from exc
        raise AuthkeyLookupError(
            f"cannot read authkey file {path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        _check_key_file(path, info, private=private)
        data = os.read(fd, MAX_KEY_FILE_SIZE + 1)
    except OSError as exc:
        raise AuthkeyLookupError(
            f"cannot read authkey file {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_SIZE:
        raise AuthkeyLookupError(
            f"authkey file {path} is over {MAX_KEY_FILE_SIZE} bytes, so it is not a "
            f"key; point at the file holding the key")
    key = _strip(data)
    if not key:
        raise AuthkeyLookupError(f"authkey file {path} is empty; put the key in it"
                                 + (" or delete it" if private else ""))
    return key


def _check_key_file(path: Path, info: os.stat_result, *, private: bool) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise AuthkeyLookupError(f"authkey file {path} is not a regular file")
    exposed = info.st_mode & 0o077
    if not private:
        if exposed:
            logger.warning("authkey file %s can be read by other users; run "
                           "chmod 600 on it", path)
        return
    if info.st_uid != os.geteuid():
        raise AuthkeyLookupError(
            f"the default authkey file {path} belongs to user id {info.st_uid}, not "
            f"to this user ({os.geteuid()}); delete it or pass the key explicitly")
    if exposed:
        raise AuthkeyLookupError(
            f"the default authkey file {path} has mode {stat.S_IMODE(info.st_mode):04o}: "
            f"other users may have read the key; delete it (a registry node started "
            f"without a key writes a new one) or run chmod 600 on it")


def _environment_key() -> KeySource | None:
    """The key from ``$UACTOR_AUTHKEY`` or ``$UACTOR_AUTHKEY_FILE``, if set."""
    key: bytes | None
    if os.supports_bytes_environ:  # the exact bytes, even undecodable ones
        key = os.environb.get(AUTHKEY_ENV.encode())
    else:  # pragma: no cover - Windows
        text = os.environ.get(AUTHKEY_ENV)
        key = None if text is None else text.encode()
    file_name = os.environ.get(AUTHKEY_FILE_ENV)
    if key is not None and file_name is not None:
        raise AuthkeyLookupError(
            f"both ${AUTHKEY_ENV} and ${AUTHKEY_FILE_ENV} are set; unset one of them")
    if key is not None:
        if not key:
            raise AuthkeyLookupError(
                f"${AUTHKEY_ENV} is set but empty; set it to the key or unset it")
        return KeySource(key, f"${AUTHKEY_ENV}")
    if file_name is not None:
        if not file_name:
            raise AuthkeyLookupError(
                f"${AUTHKEY_FILE_ENV} is set but empty; set it to the key file's "
                f"path or unset it")
        path = Path(file_name).absolute()
        return KeySource(_read_key_file(path, private=False), str(path), path)
    return None


def _default_key() -> KeySource | None:
    """The key in the first default key file that exists, if any."""
    for path in default_key_paths():
        if os.path.lexists(path):
            return KeySource(_read_key_file(path, private=True), str(path), path)
    return None


def lookup_authkey(authkey: bytes | None = None, *,
                   authkey_file: PathLike | None = None) -> KeySource | None:
    """The first key of the lookup order with its origin; ``None`` if none.

    Raises :class:`registry.AuthkeyLookupError` for a source that is set but
    unusable (never silently skipped to the next one).
    """
    key = check_key(authkey)
    if key is not None and authkey_file is not None:
        raise AuthkeyLookupError("pass authkey or authkey_file, not both")
    if key is not None:
        if not key:
            raise AuthkeyLookupError(
                "authkey is empty; pass the key the registry was started with")
        return KeySource(key, "argument")
    if authkey_file is not None:
        path = Path(authkey_file).absolute()
        return KeySource(_read_key_file(path, private=False), str(path), path)
    return _environment_key() or _default_key()


def find_authkey(authkey: bytes | None = None, *,
                 authkey_file: PathLike | None = None) -> bytes:
    """The authkey to use, following the documented lookup order.

    ``authkey`` (or the file ``authkey_file``) when given; else
    ``$UACTOR_AUTHKEY`` or the file named by ``$UACTOR_AUTHKEY_FILE``; else
    the default key file a registry node on this host wrote for this user
    (``$XDG_RUNTIME_DIR/uactor/authkey``, else
    ``~/.local/state/uactor/authkey``).

    :raises registry.AuthkeyLookupError: nothing found (the message lists
        every place looked at), or the source found cannot be used (empty, a
        default key file other users could read or that is not this user's).
    :raises registry.InvalidArgumentError: ``authkey`` is not bytes.
    """
    source = lookup_authkey(authkey, authkey_file=authkey_file)
    if source is not None:
        return source.key
    places = [f"${AUTHKEY_ENV}", f"${AUTHKEY_FILE_ENV}",
              *(str(path) for path in default_key_paths())]
    raise AuthkeyLookupError(
        f"no authkey found: looked at {', '.join(places)}; pass authkey=b'...', "
        f"set ${AUTHKEY_ENV}, or start a registry node on this host as this user "
        f"(it writes its key to the default file)")


# --------------------------------------------------------------------------
# Creating (the registry node)
# --------------------------------------------------------------------------

def _private_directory(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed; refuse one others can enter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise AuthkeyLookupError(f"{path} is not a directory; remove it")
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise AuthkeyLookupError(
            f"directory {path} (mode {stat.S_IMODE(info.st_mode):04o}, user id "
            f"{info.st_uid}) is not private to this user; run chmod 700 on it, or "
            f"remove it")
    return path


def create_default_key() -> KeySource:
    """The default key file's key, writing a new random key if there is none.

    For a registry node started without a key.  An existing file is reused
    (after the checks of the lookup), so nodes and clients keep working across
    restarts.  A new key is written to a private temporary file, then linked
    into place, which fails if another node got there first: then that key
    is used, so two nodes starting at once agree and no one ever reads a
    half-written file.
    """
    existing = _default_key()
    if existing is not None:
        return existing
    paths = default_key_paths()
    if not paths:
        raise AuthkeyLookupError(
            "no place for the default authkey file: neither XDG_RUNTIME_DIR nor a "
            f"home directory is usable; set ${AUTHKEY_ENV} or pass --authkey-file")
    path = paths[0]
    try:
        directory = _private_directory(path.parent)
        fd, temporary = tempfile.mkstemp(prefix=f".{_FILE_NAME}-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:  # mkstemp creates it 0600
                file.write(secrets.token_hex(KEY_BYTES).encode() + b"\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)
                logger.info("wrote a new authkey to %s", path)
            except FileExistsError:
                logger.debug("another process wrote %s first; using its key", path)
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise AuthkeyLookupError(
            f"cannot write the default authkey file {path}: {exc.strerror or exc}; "
            f"set ${AUTHKEY_ENV} or pass --authkey-file") from exc
    return KeySource(_read_key_file(path, private=True), str(path), path)
