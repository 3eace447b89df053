"""Deciding: check results in, incidents and notifications out. The engine
(engine.py) applies the policy (policy.py) to stored state (store.py,
tables.py, migrations.py) and queues notifications in the outbox (outbox.py),
which the dispatcher (dispatcher.py) delivers; silences and status read the
same store."""
