"""baywatch: delivery-bay observation and optimisation.

The command line (``baywatch.cli``) and the one place where run-time settings are
read and validated (``occupancy.config.settings``). The work itself lives in the
``vision``, ``occupancy``, ``optimiser`` and ``api`` packages.
"""

__version__ = "0.1.0"
