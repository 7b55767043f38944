"""The implementation of the ``telemedroom`` command (see :mod:`telemedroom.cli`)."""
