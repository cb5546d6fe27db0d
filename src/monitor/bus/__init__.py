"""Pub/sub and Redis access. The only package (with the Redis limiter) that imports coredis."""
