"""L4, the command line: the typer app (``app``) parses, calls the client or a worker, prints."""
