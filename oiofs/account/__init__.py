"""The account server: one sqlite database per account, its WSGI server and daemons."""
