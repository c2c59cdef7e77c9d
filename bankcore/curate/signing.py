"""Secret keys that sign what bankcore writes for others, key rings for rotating them, and detached signatures for
files that cannot carry one.

Keys. A key is the bytes of one file, surrounding whitespace removed, at least `MIN_KEY_BYTES` of them
(`openssl rand -hex 32 > KEY`). It is never written, printed or shown in a repr: files and messages name it by its
key id, an HMAC of a fixed text under the key (16 hex digits), which tells "another key" from "altered" and
reveals nothing of the key.

Rotation. A `KeyRing` is several key files in order: the first signs, any of them verifies. `--key-file` may be given
more than once, and ``$BANKCORE_EXPORT_KEY_FILE`` may list several files separated by ``os.pathsep`` (``:``). To
rotate, put the new key first and keep the old one after it: new files are signed with the new key and old ones
still verify. To retire a key, drop its file from the ring: what only it signed is then refused as signed with a key
the ring does not hold. One key per file (a binary key may hold any byte, newlines included).

Detached signatures. A lesson set or a dataset is read by other tools (a system prompt, ACE, Langfuse, Phoenix), so
nothing is added to it: ``FILE.sig`` beside it holds one JSON object, ``format`` `SIGNATURE_FORMAT`, ``version``,
``algorithm`` hmac-sha256, ``key_id``, ``kind`` (what was signed: a lesson set, a dataset), ``name`` (FILE's name
when signed, for people: a renamed file still verifies), ``bytes`` and ``sha256`` of FILE's exact bytes, and ``mac``:
the HMAC under the key of every other field (canonical JSON, under a context of its own, so a bank export's trailer
MAC never passes for one and the other way round). Verifying reads FILE's bytes once and checks, in order: a ``.sig``
exists, it is one of ours, its key is in the ring, its MAC holds (the ``.sig`` itself was not edited), and FILE has
the signed length and sha256 (it was not altered, cut short or added to, and the ``.sig`` is not another file's).
`verify_file` runs the same checks on a file on disk, read in chunks, for `bankcore verify-signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

from ..errors import BankcoreError, InputError, Where

KEY_FILE_ENV = "BANKCORE_EXPORT_KEY_FILE"  # the key file(s) when --key-file is not given, os.pathsep-separated
MIN_KEY_BYTES = 16
ALGORITHM = "hmac-sha256"
SIGNATURE_FORMAT = "bankcore-signature"
SIGNATURE_VERSION = 1
SIGNATURE_SUFFIX = ".sig"
KINDS = {"lesson-set": "a lesson set", "dataset": "a dataset"}
_MAX_KEY_FILE_BYTES = 64 * 1024
_MAX_SIGNATURE_BYTES = 64 * 1024
_KEY_ID_CONTEXT = b"bankcore-bank export key id v1"  # unchanged since the first signed exports: key ids stay stable
_DETACHED_CONTEXT = b"bankcore detached signature v1\n"


class ExportKey:
    """The secret that signs and verifies. It keeps the bytes to itself: no attribute, repr or message shows them;
    `key_id` (an HMAC of a fixed text under the key) is what files and messages name."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, secret: bytes):
        self._secret = secret
        self.key_id = hmac.new(secret, _KEY_ID_CONTEXT, hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"ExportKey(key_id={self.key_id!r})"

    def mac(self, context: bytes, message: bytes) -> str:
        """HMAC-SHA256 of `message` under the key, `context` first: each kind of signed thing has its own context,
        so a MAC made for one never passes for another."""
        return hmac.new(self._secret, context + message, hashlib.sha256).hexdigest()


class KeyRing:
    """Keys in order: the first signs, any verifies (see the module's doc on rotation)."""

    __slots__ = ("keys",)

    def __init__(self, keys: Sequence[ExportKey]):
        if not keys:
            raise ValueError("a key ring holds at least one key")
        unique: dict[str, ExportKey] = {}
        for key in keys:
            unique.setdefault(key.key_id, key)
        self.keys = tuple(unique.values())

    @property
    def signer(self) -> ExportKey:
        return self.keys[0]

    @property
    def key_id(self) -> str:
        """The id of the key that signs."""
        return self.signer.key_id

    def position(self, key_id: Any) -> int | None:
        """The place in the ring of the key with this id (0: the signing key), None when the ring lacks it."""
        return next((n for n, key in enumerate(self.keys) if key.key_id == key_id), None)

    def describe(self) -> str:
        """The ring's key ids, for a message ("the key given has id …", "the keys given have ids …")."""
        ids = ", ".join(repr(key.key_id) for key in self.keys)
        return f"the key given has id {ids}" if len(self.keys) == 1 else f"the keys given have ids {ids}"

    def __repr__(self) -> str:
        return f"KeyRing({', '.join(key.key_id for key in self.keys)})"


def as_ring(key: ExportKey | KeyRing) -> KeyRing:
    return key if isinstance(key, KeyRing) else KeyRing([key])


def load_key(path: str | Path) -> ExportKey:
    """The key in `path`: its bytes with surrounding whitespace removed (so `openssl rand -hex 32 > F` works), at
    least `MIN_KEY_BYTES` of them. Anything else is one `InputError` naming the file and never quoting it."""
    where = Where(str(path))
    path = Path(path)
    secret = _read_small_file(path, where, "key file", _MAX_KEY_FILE_BYTES,
                              missing=InputError(where, "key file not found"),
                              too_large="the key file is {} bytes, too large to be a key").strip()
    if not secret:
        raise InputError(where, "the key file is empty")
    if len(secret) < MIN_KEY_BYTES:
        raise InputError(where, f"the key in this file is {len(secret)} bytes; a signing key needs at least "
                         f"{MIN_KEY_BYTES} (make one with: openssl rand -hex 32 > {path})")
    return ExportKey(secret)


def load_key_ring(paths: Iterable[str | Path]) -> KeyRing:
    """The ring of the keys in `paths`, in order (the first signs); a bad file is one `InputError` naming it."""
    keys = [load_key(path) for path in paths]
    if not keys:
        raise BankcoreError("no key file given")
    return KeyRing(keys)


def key_files(named: Sequence[str] | str | None, environ: dict[str, str] | None = None) -> list[str]:
    """The key files a command uses: those named on the command line (--key-file, any number of times), else those
    `$BANKCORE_EXPORT_KEY_FILE` lists (separated by os.pathsep); empty when neither names one."""
    if isinstance(named, str):
        named = [named]
    if named:
        return list(named)
    listed = (os.environ if environ is None else environ).get(KEY_FILE_ENV, "")
    return [part for part in listed.split(os.pathsep) if part.strip()]


def ring_from(named: Sequence[str] | str | None, environ: dict[str, str] | None = None) -> KeyRing | None:
    """The ring named by --key-file or the environment (see `key_files`), None when neither names a key."""
    paths = key_files(named, environ)
    return load_key_ring(paths) if paths else None


# ---------------------------------------------------------------------- detached signatures
def signature_path(path: str | Path) -> Path:
    """Where FILE's detached signature lives: FILE.sig beside it."""
    path = Path(path)
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def _signed_fields(signature: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in signature.items() if k != "mac"}, sort_keys=True,
                      ensure_ascii=True).encode("ascii")


def detached_signature(key: ExportKey | KeyRing, *, kind: str, name: str, size: int, sha256: str) -> dict[str, Any]:
    """The signature object for a file of `size` bytes with this sha256, signed by the ring's first key."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of signed file {kind!r}")
    signer = as_ring(key).signer
    body = {"format": SIGNATURE_FORMAT, "version": SIGNATURE_VERSION, "algorithm": ALGORITHM,
            "key_id": signer.key_id, "kind": kind, "name": name, "bytes": size, "sha256": sha256}
    return {**body, "mac": signer.mac(_DETACHED_CONTEXT, _signed_fields(body))}


def file_digest(path: str | Path) -> tuple[int, str]:
    """(length, sha256) of the file's bytes, read in chunks: what a detached signature covers."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def write_signature(path: str | Path, key: ExportKey | KeyRing, *, kind: str, size: int, sha256: str) -> Path:
    """Write FILE.sig for the file at `path` (whose bytes had this length and sha256), atomically; returns its path."""
    path = Path(path)
    target = signature_path(path)
    text = json.dumps(detached_signature(key, kind=kind, name=path.name, size=size, sha256=sha256),
                      sort_keys=True) + "\n"
    fd, staged = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o666 & ~umask)
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return target


def sign_file(path: str | Path, key: ExportKey | KeyRing, *, kind: str) -> Path:
    """Sign a file already written (FILE.sig beside it): for tools that write the file themselves."""
    size, sha256 = file_digest(path)
    return write_signature(path, key, kind=kind, size=size, sha256=sha256)


def has_signature(path: str | Path) -> bool:
    return signature_path(path).exists()


def verify_detached(path: str | Path, data: bytes, key: ExportKey | KeyRing, *, kind: str) -> str:
    """Check that `data` (FILE's bytes, read once by the caller, who then uses these same bytes) is what FILE.sig
    signed, under a key of the ring. Returns the id of the key that signed it; anything else is one `InputError`
    naming FILE or FILE.sig (see the module's doc for the order of the checks)."""
    path, ring = Path(path), as_ring(key)
    signature, position = _checked_signature(path, ring, kind)
    _check_bytes(path, signature, len(data), hashlib.sha256(data).hexdigest())
    return ring.keys[position].key_id


class Verified(NamedTuple):
    """What `verify_file` found: the key that signed (its id, and its place in the ring: 0 is the signing key),
    what was signed and how many bytes."""
    key_id: str
    position: int
    kind: str
    size: int


def verify_file(path: str | Path, key: ExportKey | KeyRing, *, kind: str | None = None) -> Verified:
    """`verify_detached` for a file on disk, read in chunks (a dataset may be tens of MB): any kind of signed file
    unless `kind` names one. The file must be a regular file (a FIFO would hang the read); anything else, or any
    failed check, is one `InputError` naming FILE or FILE.sig."""
    path = Path(path)
    where = Where(str(path))
    try:
        info = path.stat()
    except OSError as exc:
        raise InputError(where, "not found" if isinstance(exc, FileNotFoundError) else
                         f"cannot read the file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(where, "not a regular file: only a file can carry a signature")
    ring = as_ring(key)
    signature, position = _checked_signature(path, ring, kind)
    try:
        size, sha256 = file_digest(path)
    except OSError as exc:
        raise InputError(where, f"cannot read the file ({exc.strerror or exc})") from None
    _check_bytes(path, signature, size, sha256)
    return Verified(ring.keys[position].key_id, position, signature["kind"], size)


def _checked_signature(path: Path, ring: KeyRing, kind: str | None) -> tuple[dict[str, Any], int]:
    """FILE.sig read and checked against the ring (ours, a key of the ring, its MAC, the kind when one is asked
    for): the signature and the place in the ring of the key that made it."""
    sig = signature_path(path)
    signature = _read_signature(path, sig)
    where = Where(str(sig))
    if signature.get("format") != SIGNATURE_FORMAT or signature.get("algorithm") != ALGORITHM:
        raise InputError(where.at("format"), f"not a {SIGNATURE_FORMAT} ({ALGORITHM}) file this bankcore can check")
    if signature.get("version") != SIGNATURE_VERSION:
        raise InputError(where.at("version"), f"version {signature.get('version')!r}; this bankcore reads "
                         f"{SIGNATURE_VERSION}")
    position = ring.position(signature.get("key_id"))
    if position is None:
        raise InputError(where.at("key_id"), f"signed with another key (key id {str(signature.get('key_id'))[:16]!r}; "
                         f"{ring.describe()}): refused")
    stated = str(signature.get("mac", "")).encode("utf-8", "replace")
    expected = ring.keys[position].mac(_DETACHED_CONTEXT, _signed_fields(signature)).encode("ascii")
    if not hmac.compare_digest(stated, expected):
        raise InputError(where.at("mac"), "the signature does not match its own fields: the .sig file was edited "
                         "after it was signed")
    if signature.get("kind") not in KINDS or (kind is not None and signature.get("kind") != kind):
        raise InputError(where.at("kind"), f"signs {KINDS.get(signature.get('kind'), 'something else')}, not "
                         f"{KINDS[kind] if kind else 'a lesson set or a dataset'}")
    return signature, position


def _check_bytes(path: Path, signature: dict[str, Any], size: int, sha256: str) -> None:
    """FILE has the length and sha256 its (checked) signature states; else one `InputError` saying what changed."""
    signed_size = signature.get("bytes")
    if signed_size == size and signature.get("sha256") == sha256:
        return
    if isinstance(signed_size, int) and size != signed_size:
        change = (f"the file is {size} bytes where {signed_size} were signed: it was "
                  f"{'cut short' if size < signed_size else 'added to'}")
    else:
        change = "its bytes differ from the signed ones: it was altered after it was signed"
    if signature.get("name") != path.name:  # renaming a signed file is fine; this only says what else it may be
        change += (f", or {signature_path(path).name} is the signature of another file "
                   f"({str(signature.get('name'))[:200]!r})")
    raise InputError(Where(str(path)), f"not the file that was signed: {change}")


def _read_signature(path: Path, sig: Path) -> dict[str, Any]:
    where = Where(str(sig))
    unsigned = InputError(Where(str(path)), f"not signed (no {sig.name} beside it), and a key was given to check its "
                          "signature: an unsigned file is refused")
    raw = _read_small_file(sig, where, "signature", _MAX_SIGNATURE_BYTES, missing=unsigned,
                           too_large="{} bytes, too large to be a signature")
    try:
        signature = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(where, f"not a signature: not JSON ({type(exc).__name__})") from None
    if not isinstance(signature, dict):
        raise InputError(where, "not a signature: expected a JSON object")
    return signature


def _read_small_file(path: Path, where: Where, noun: str, limit: int, *, missing: InputError, too_large: str) -> bytes:
    """The bytes of a key or signature file: a regular file of at most `limit` bytes, checked before it is read
    (a FIFO or a device would hang, a huge file would fill memory). Each failure is one `InputError`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise missing from None
    except OSError as exc:
        raise InputError(where, f"cannot read the {noun} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(where, f"the {noun} is not a regular file")
    if info.st_size > limit:
        raise InputError(where, too_large.format(info.st_size))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(where, f"cannot read the {noun} ({exc.strerror or exc})") from None
