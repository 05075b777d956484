"""Risk flags: signals, flags and their outbox, screener runs, clinician handoffs, pending flags."""
