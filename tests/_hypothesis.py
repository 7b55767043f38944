"""Example budgets for property tests whose every example is expensive.

The ``ci`` profile (tests/conftest.py) runs 2000 examples per property, so that the
byte decoders meet rare layouts. A property whose every example builds and validates
whole FHIR resources with fhir.resources costs 8-40 ms per example (measured on a
shared 2-core machine): 2000 of them take 17-80 s each. Their inputs are small
structured models (a measurement, an appointment, a slot, a schedule, a Sunnybrook
grading) drawn from strategies with a handful of branches, which a few hundred
examples cover many times over. The lossless FHIR round trip of every measurement and
the facial measures' Observations, which fuzz the values rather than the resources'
shape, keep the full budget.
"""

from __future__ import annotations

from hypothesis import settings

# Examples for a property that validates FHIR resources with fhir.resources, under any
# profile (dev's 150 stays 150).
FHIR_VALIDATION_EXAMPLES = 400


def at_most(examples: int) -> settings:
    """The loaded profile's settings, with at most ``examples`` examples."""
    current = settings()
    return settings(current, max_examples=min(current.max_examples, examples))
