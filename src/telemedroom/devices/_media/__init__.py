"""Implementation of :mod:`telemedroom.devices.media` (private; import from there)."""
