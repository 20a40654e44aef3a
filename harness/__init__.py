"""Stand-ins for what the real things cannot do on demand, shared by the tests and benchmarks.

Not part of the library: ``akops`` never imports ``harness``; ``tests/`` and ``scripts/`` do.

``proxy``: a fault-injecting HTTPS proxy in front of the real kube-apiserver (the local control
plane, ``akops.launch``). The real server will not drop a watch mid-stream, answer 500 or 429,
stall or reset a connection when a test asks; the proxy does, and forwards everything else
untouched, so every other answer is the real API server's.

``emulator``: a Kubernetes API written here (kmock plus server-side apply). Every
cluster-facing path is proven against the real control plane; these uses remain, each with
the reason it has not moved yet:

- ``tests/integration/cluster/emulated/test_cluster_rollout.py``: fabricated pod states the
  plane's kwok nodes do not produce (a container in CrashLoopBackOff with its logs, a pod
  whose readiness never comes with logs to show) and faults timed against the watch stream;
  the move needs kwok Stages for a crash-looping container and logs served by kwok, and the
  faults through ``proxy`` (not done yet: time).
- ``tests/integration/cluster/emulated/test_cluster_lease.py``,
  ``tests/integration/cluster/emulated/test_cluster_lock_guard.py``: the deploy lock's
  takeover and renewal paths, which set a Lease's ``renewTime`` and a Deployment's convergence
  by hand (the real Lease semantics, 409/422, and racing deployers are proven on the plane
  in tests/integration/kube/test_api_semantics.py); not moved yet: time.
- ``tests/integration/cluster/emulated/test_cluster_connect.py``,
  ``tests/integration/cluster/emulated/test_cluster_hostile.py``: kubeconfig, credential and
  hostile-answer cases (an API answering garbage, oversized or endless bodies) that the real
  server never sends; they belong behind ``proxy``'s answers (not done yet: time).
- ``tests/integration/verify/test_verify_cluster.py``, ``test_verify_images.py`` and
  ``scripts/bench_verify.py`` (the verify helper's area): pods with container states, images
  and logs that kwok's nodes do not report.
"""
