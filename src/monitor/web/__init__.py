"""HTTP and websocket edge: routes, schemas, auth, errors. Never imports actors."""
