"""Background actors: one module each, one `async def run(...)` each."""
