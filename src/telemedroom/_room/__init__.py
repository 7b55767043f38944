"""The room's private parts: events, configuration, state machine, journal, wrap-up FHIR."""
