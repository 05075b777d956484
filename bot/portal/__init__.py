"""What the therapist portal shows: staff-scoped, audited reads of patients, flags and trends.

The HTTP side (routes, templates) is bot/web/portal; this package is its data.
"""
