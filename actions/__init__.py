"""Rasa SDK actions: thin adapters that call Interlude's core in `bot/`.

One module per capability: onboarding, checkin, safety. The action server is started by
`interlude run` (bound to 127.0.0.1); see bot/supervisor.py.
"""
