"""Use cases of the workflow, one module per use case. Each takes a session and `now`,
changes state, writes the messages it causes to the outbox in the same transaction, and
returns what to tell the person who acted. Nothing here imports Telegram; the caller commits.

common (shared helpers) ← views (task cards) ← acting (transitions) ← starting, uploads
← routing (which use case a press or text is for); reminders and reports read beside them.
"""
