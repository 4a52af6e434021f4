"""OpenVINO's usage telemetry, turned off before OpenVINO is imported.

Importing ``openvino`` imports its model converter, which starts the
``openvino_telemetry`` client without asking (``enable_opt_in_dialog=False``): it
writes a client id under ``~/intel`` and would send usage events. A city's server
must not phone home, and baywatch must not write under a user's home unasked. The
package's own switch is a consent file in the home folder (``opt_in_out --opt_out``),
i.e. another write there, so instead its consent check is made to answer "declined"
for this process: then the client neither writes nor sends anything.
"""

from __future__ import annotations


def openvino_telemetry_off() -> None:
    """Make OpenVINO's telemetry consent check answer "declined" (idempotent, cheap)."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # the telemetry package is optional for OpenVINO
        return

    def declined(_self: object, *_args: object, **_kw: object) -> ConsentCheckResult:
        return ConsentCheckResult.DECLINED

    OptInChecker.check = declined
