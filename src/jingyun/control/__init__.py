"""One owner per home: while ``jingyun serve`` owns a ``JINGYUN_HOME``, every ``jingyun`` command
that reaches the warehouse runs inside that service, over a local control channel.

DuckDB lets one process open a database file for writing, and no other process may open it at
all, not even read-only. So instead of a second process opening the file, the command itself
moves: the client (:mod:`jingyun.control.client`) sends its argv, working directory and
``JINGYUN_*`` environment over a Unix socket in the home (:mod:`jingyun.control.owner`); the
service (:mod:`jingyun.control.server`) runs the very same Typer app in a worker thread whose
``Warehouse.open()`` answers a cursor on the service's own database (:mod:`jingyun.control.ambient`)
and whose stdout/stderr stream back to the client (:mod:`jingyun.control.threadio`). Output, ``--json``,
exit codes and one-line errors are therefore those of the same code run directly.
"""
