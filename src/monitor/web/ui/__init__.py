"""The operator web UI: pages for browsers, signed in with a session cookie."""
