"""What a site sent over HTTP may name: no file-system path of the client's choosing.

A site document (``occupancy.config.site.Site``) has two fields the CLI reads as paths:

* ``detector.model``: the weights file. Over HTTP it is always refused: the server's
  detector comes from its own settings (``BAYWATCH_MODEL``), never from a request;
  otherwise a request could make the server open any file (and learn from the error
  whether it exists).
* ``source.uri``: the footage. Over HTTP it must pass the same ``FootagePolicy`` as a
  job's ``source`` (``api.sources``): an http(s)/rtsp(s) URL under an allowed prefix, or
  a path under a media root. ``upload:<id>`` is refused there, since an upload is
  deleted once its job ends; with no footage policy configured every ``source.uri`` is
  refused.

Used by ``POST /jobs`` and ``POST /setup/site``. Errors are ``SiteRefused`` whose
message names the field (``site.detector.model``, ``site.source.uri``).
"""

from __future__ import annotations

from api.sources import UPLOAD_PREFIX, FootagePolicy, SourceRefused
from occupancy.config.site import Site


class SiteRefused(ValueError):
    """A site field the service does not accept from a client; the message names it."""


def check_client_site(site: Site, footage: FootagePolicy | None) -> None:
    """Raise ``SiteRefused`` when ``site`` names a path the server would open."""
    if site.detector.model is not None:
        raise SiteRefused(
            "site.detector.model: not accepted over HTTP (the server's model comes from its "
            "settings, BAYWATCH_MODEL); leave it out"
        )
    uri = site.source.uri
    if uri is None:
        return
    if footage is None:
        raise SiteRefused("site.source.uri: not accepted (footage sources are not configured)")
    if uri.startswith(UPLOAD_PREFIX):
        raise SiteRefused("site.source.uri: an upload is deleted after its job; not a camera")
    try:
        footage.check(uri)
    except SourceRefused as exc:
        raise SiteRefused(f"site.{exc}".replace("site.source:", "site.source.uri:", 1)) from None
