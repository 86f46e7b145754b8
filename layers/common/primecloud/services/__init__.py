"""Business logic per domain; each service takes a session and adapters as arguments."""
