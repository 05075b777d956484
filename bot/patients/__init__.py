"""Patients: identity and channel bindings, enrollment, consent, requests, export and delete."""
