"""Stand-ins for what cannot run on this machine, shared by the tests and the benchmarks.

``emulator``: a Kubernetes API on 127.0.0.1 (kmock plus server-side apply). Not part of
the library: ``akops`` never imports it; ``tests/`` and ``scripts/`` do.
"""
