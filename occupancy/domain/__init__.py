"""Records and enums every layer shares: CDS events, sessions, vehicle types, stable ids; the one geo module."""
