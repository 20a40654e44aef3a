"""Debian's prometheus-pgbouncer-exporter (1.7), its pools and databases collectors only.

Run by the system Python (``/usr/bin/python3``, where Debian installs the package). The
package's own entry point registers its SHOW STATS collector too, which reads the column
``total_requests`` that PgBouncer removed in 1.8, and so dies at start against PgBouncer
1.18 (KeyError: 'total_requests'). This launcher registers the package's other collectors,
unchanged, and serves them as its entry point would. The password comes from PGPASSWORD.

    python3 debian_exporter.py LISTEN_PORT PGBOUNCER_PORT USER
"""

import sys
from http.server import HTTPServer

from prometheus_client.core import REGISTRY
from prometheus_client.exposition import MetricsHandler
from prometheus_pgbouncer_exporter.collectors import DatabasesCollector, PoolsCollector
from prometheus_pgbouncer_exporter.utils import get_connection


def main() -> None:
    listen, port, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    connection = get_connection(user, port, "127.0.0.1")
    REGISTRY.register(PoolsCollector(connection=connection, databases=None))
    REGISTRY.register(DatabasesCollector(connection=connection, databases=None))
    HTTPServer(("127.0.0.1", listen), MetricsHandler).serve_forever()


if __name__ == "__main__":
    main()
