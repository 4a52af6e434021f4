"""Where a footage job's video may come from: never a path a client chooses freely.

A job's ``source`` is one of:

* ``upload:<id>``: footage the client uploaded first (``PUT /jobs/uploads``), kept
  under ``{data_dir}/uploads`` and deleted once its job ends (no footage is kept
  by default: CNIL);
* a path (or ``file:`` URL) that resolves, symlinks followed, inside one of the
  ``api_media_roots`` folders; with no media roots configured, no path is accepted;
* an ``http(s)://`` or ``rtsp(s)://`` URL under one of the ``api_source_urls``
  prefixes: same scheme, same host, same port, path under the prefix's path. HTTP
  footage is downloaded by the service itself (size-limited, redirects followed only
  while they stay under an allowed prefix), so neither the decoder nor a redirect can
  make the server reach another host (SSRF).

An allowed host *name* could still be made to point inside the network (a poisoned or
rebinding DNS record: 127.0.0.1, 10.x, 169.254.169.254). A name must therefore resolve
to public (global) addresses, or to one of the ``api_source_networks`` (the cameras'
own network, named by the operator); an IP literal in an allowed prefix is allowed as
written. For downloads this is checked on the very address the connection is made to
(``_VettedBackend``: one resolution, checked, then connected to), so a record that
changes between the check and the connection gains nothing. RTSP footage is opened by
the decoder, which resolves the name again: there the check, at submission and when the
job starts, narrows the window but cannot close it.

Anything else is refused with ``SourceRefused``, whose message names the rule; the
check of a path's place comes before any look at the file system, so a refused path
tells nothing about what exists outside the roots.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from occupancy.config.settings import Settings

UPLOAD_PREFIX = "upload:"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "rtsp": 554, "rtsps": 322}
MAX_REDIRECTS = 5


class SourceRefused(ValueError):
    """A footage source the service does not accept; the message names the rule."""


def _port(u: object) -> int | None:
    try:
        return u.port  # type: ignore[attr-defined]
    except ValueError:
        return -1  # a port that is not a number matches no prefix


@dataclass(frozen=True, slots=True)
class FootagePolicy:
    """The rules above, from settings; ``check`` at submission, ``open`` when the job runs."""

    data_dir: Path
    media_roots: tuple[Path, ...]
    url_prefixes: tuple[str, ...]
    max_bytes: int
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, s: Settings) -> FootagePolicy:
        """The policy of ``data_dir``, ``api_media_roots`` and ``api_source_urls``."""
        return cls(
            data_dir=Path(s.data_dir).resolve(),
            media_roots=tuple(Path(r).resolve() for r in s.api_media_roots),
            url_prefixes=tuple(s.api_source_urls),
            max_bytes=s.api_max_upload_bytes,
            networks=tuple(ipaddress.ip_network(n, strict=False) for n in s.api_source_networks),
        )

    @property
    def uploads(self) -> Path:
        """The folder of uploaded footage."""
        return self.data_dir / "uploads"

    # -- submission ----------------------------------------------------------------

    def check(self, source: str) -> str:
        """The source as stored with its job; raises ``SourceRefused``."""
        if source.startswith(UPLOAD_PREFIX):
            upload_id = source[len(UPLOAD_PREFIX) :]
            if not _UPLOAD_ID.match(upload_id) or not self.upload_path(upload_id).is_file():
                raise SourceRefused(
                    f"source: no upload with id {upload_id!r} (PUT /jobs/uploads first)"
                )
            return source
        scheme = urlsplit(source).scheme.lower()
        if scheme in _DEFAULT_PORTS:
            self.check_url(source)
            self.check_host(source)
            return source
        if scheme == "file":
            return str(self.check_path(urlsplit(source).path))
        if scheme and len(scheme) > 1:  # not a Windows drive letter
            raise SourceRefused(
                f"source: URL scheme {scheme!r} is not accepted (upload:<id>, a path under a media root, or http(s)/rtsp(s) under an allowed prefix)"
            )
        return str(self.check_path(source))

    def check_url(self, url: str) -> None:
        """Raise ``SourceRefused`` unless ``url`` lies under an allowed prefix."""
        if not self.allowed_url(url):
            u = urlsplit(url)
            port = _port(u)
            where = f"{u.hostname}:{port}" if port else u.hostname
            raise SourceRefused(
                f"source: {u.scheme}://{where}{u.path} is not under an allowed URL prefix (setting BAYWATCH_API_SOURCE_URLS)"
            )

    def allowed_url(self, url: str) -> bool:
        """Same scheme, host and port as a prefix, path under its path, no ``..``."""
        u = urlsplit(url)
        scheme = u.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not u.hostname:
            return False
        if any(seg in (".", "..") for seg in unquote(u.path).split("/")):
            return False  # no climbing out of a prefix's folder
        port = _port(u) or _DEFAULT_PORTS[scheme]
        for prefix in self.url_prefixes:
            p = urlsplit(prefix)
            if (
                p.scheme.lower() == scheme
                and (p.hostname or "").lower() == u.hostname.lower()
                and (_port(p) or _DEFAULT_PORTS[scheme]) == port
                and _under(u.path or "/", p.path or "/")
            ):
                return True
        return False

    def vetted_address(self, host: str, port: int) -> str:
        """The address to connect to for ``host``: resolved once and checked (module doc).

        Raises ``SourceRefused`` naming the host and the address it resolved to; an
        unresolvable name raises ``OSError`` (``socket.gaierror``).
        """
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            return str(literal)  # an allowed prefix names this very address
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        for a in addresses:  # every record must pass: the connection may try any of them
            ip = ipaddress.ip_address(a.split("%")[0])
            ip = getattr(ip, "ipv4_mapped", None) or ip
            if not ip.is_global and not any(ip in net for net in self.networks):
                raise SourceRefused(
                    f"source: {host} resolves to {ip}, which is not a public address "
                    "(allow its network in BAYWATCH_API_SOURCE_NETWORKS)"
                )
        return addresses[0]

    def check_host(self, url: str) -> None:
        """Refuse a URL whose host resolves inside the network (see ``vetted_address``);
        a name that does not resolve now is left to the connection to judge."""
        u = urlsplit(url)
        with contextlib.suppress(OSError):
            self.vetted_address(u.hostname or "", _port(u) or _DEFAULT_PORTS[u.scheme.lower()])

    def check_path(self, raw: str) -> Path:
        """The resolved file of an absolute path under a media root; ``SourceRefused`` else."""
        if not self.media_roots:
            raise SourceRefused(
                "source: file paths are not accepted (no media roots configured: BAYWATCH_API_MEDIA_ROOTS); upload the footage with PUT /jobs/uploads"
            )
        if "\x00" in raw or not os.path.isabs(raw):
            raise SourceRefused("source: a path must be absolute and lie under a media root")
        path = Path(os.path.realpath(raw))
        if not any(path.is_relative_to(root) for root in self.media_roots):
            raise SourceRefused("source: path is not under a configured media root")
        try:
            readable = path.is_file()
        except OSError:
            readable = False
        if not readable:
            raise SourceRefused(f"source: no footage file {raw!r} under the media roots")
        return path

    # -- uploads -------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        """Where the upload ``upload_id`` is kept."""
        return self.uploads / f"{upload_id}.video"

    async def save_upload(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Stream a body to a new upload; (id, bytes). A broken stream leaves no file."""
        self.uploads.mkdir(parents=True, exist_ok=True)
        upload_id = uuid.uuid4().hex
        final = self.upload_path(upload_id)
        tmp = final.with_suffix(".part")
        size = 0
        try:
            with tmp.open("wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    f.write(chunk)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return upload_id, size

    # -- run time ------------------------------------------------------------------

    def open(self, source: str, job_id: str) -> tuple[str, Path | None]:
        """(what the decoder opens, a file to delete after the job or None).

        HTTP(S) footage is downloaded here, under the same rules as at submission.
        """
        if source.startswith(UPLOAD_PREFIX):
            path = self.upload_path(source[len(UPLOAD_PREFIX) :])
            return str(path), path
        scheme = urlsplit(source).scheme.lower()
        if scheme in ("http", "https"):
            path = self.download(source, job_id)
            return str(path), path
        if scheme in ("rtsp", "rtsps"):
            self.check_url(source)  # the settings may have changed since submission
            self.check_host(source)
            return source, None
        return str(self.check_path(source)), None

    def download(self, url: str, job_id: str) -> Path:
        """Fetch ``url`` into the data folder; every redirect must stay allowed."""
        import httpx

        target = self.data_dir / "downloads" / f"{job_id}.video"
        target.parent.mkdir(parents=True, exist_ok=True)
        # No proxy from the environment: the vetted connection must be to the footage host.
        transport = httpx.HTTPTransport(trust_env=False)
        transport._pool._network_backend = _VettedBackend(self)  # type: ignore[assignment]
        with httpx.Client(
            transport=transport, follow_redirects=False, timeout=30.0, trust_env=False
        ) as http:
            for _ in range(MAX_REDIRECTS + 1):
                self.check_url(url)
                with http.stream("GET", url) as resp:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        continue
                    resp.raise_for_status()
                    size = 0
                    with target.open("wb") as f:
                        for chunk in resp.iter_bytes():
                            size += len(chunk)
                            if size > self.max_bytes:
                                f.close()
                                target.unlink(missing_ok=True)
                                raise SourceRefused(
                                    f"source: download exceeds {self.max_bytes} bytes"
                                )
                            f.write(chunk)
                    return target
        raise SourceRefused(f"source: more than {MAX_REDIRECTS} redirects")


def _under(path: str, prefix: str) -> bool:
    if not prefix.endswith("/"):
        return path == prefix or path.startswith(prefix + "/")
    return path.startswith(prefix)


class _VettedBackend:
    """httpcore's network backend, connecting only to ``FootagePolicy.vetted_address``.

    httpx has no public hook between name resolution and connection; its pool's
    ``_network_backend`` is that hook (a test downloads through it, so a change in httpx
    that bypassed it would fail that test).
    """

    def __init__(self, policy: FootagePolicy) -> None:
        import httpcore

        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        """Connect to the vetted address of ``host`` (TLS still verifies ``host``)."""
        address = self.policy.vetted_address(host, port)
        return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    def connect_unix_socket(self, *_args: Any, **_kw: Any) -> Any:
        """Never: footage comes over TCP."""
        raise SourceRefused("source: unix sockets are not accepted")

    def sleep(self, seconds: float) -> None:
        """httpcore's retry pause."""
        self.inner.sleep(seconds)
