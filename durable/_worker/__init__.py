"""L3, the worker shell: claim loops and life cycle (``worker``), the next episode decided from the
cached generator before any I/O (``episodes``), one activity attempt (``attempts``), slots."""
