"""The container server: one sqlite database per container, its WSGI server and daemons."""
