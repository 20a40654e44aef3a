"""Alert rules of the stack: what the rendered rules say, promtool around them, and what a
running Prometheus reports as firing.

Modules: ``rules`` (pure: rule files in rendered objects, alerts and their runbooks),
``promtool`` (I/O: ``promtool check rules``), ``query`` (I/O: the Prometheus HTTP API),
``firing`` (pure: firing alerts → the verdict verify reports).
"""
