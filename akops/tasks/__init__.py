"""The Invoke tasks, one module per group (pyinvoke/invocations style); ``tasks.py`` is the index.

Rule: adapters only. A task parses its flags, calls one library function and turns
``AkopsError`` into an exit code (``common.exits``). Each module exposes ``ns``: a named
``Collection`` is a group (``runbook.run``), an unnamed one adds its tasks at the top
(``invoke deploy``). Heavy modules are imported inside the tasks so that ``invoke --list``
stays fast. How to add a task: docs/contributing.md.
"""
