"""The Stripe checks: a client with one retry policy (client.py, retry.py), the
Events cursor (events.py, state.py), and the check types built on them."""
