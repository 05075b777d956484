"""Check-ins: journal answers and instruments, saved (or spooled while the database is down)."""
