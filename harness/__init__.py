"""Stand-ins for what the real things cannot do on demand, shared by the tests and benchmarks.

Not part of the library: ``akops`` never imports ``harness``; ``tests/`` and ``scripts/`` do.

``proxy``: a fault-injecting HTTPS proxy in front of the real kube-apiserver (the local control
plane, ``akops.launch``). The real server will not drop a watch mid-stream, answer 500 or 429,
stall or reset a connection when a test asks; the proxy does, and forwards everything else
untouched, so every other answer is the real API server's.

``emulator``: a Kubernetes API written here (kmock plus server-side apply). Every
cluster-facing path is proven against the real control plane; what remains on the emulator
is what the real server or kwok's nodes cannot be made to produce:

- ``tests/integration/cluster/emulated/test_cluster_rollout_pods.py``: a container in
  CrashLoopBackOff and a running-but-unready pod, each with its logs (kwok's nodes report
  every container running and ready, and serve no kubelet API for logs), and a Deployment
  status the real controller would overwrite at once (ProgressDeadlineExceeded left from an
  older spec). Moving them needs kwok Stages for those container states and kwok's logs
  endpoint wired to the API server's kubelet client.
- ``tests/integration/cluster/emulated/test_cluster_lease_values.py``: a Lease with values the
  real API server's validation refuses to store (a renewTime that is no time, a string
  duration, negative transitions, a list as holder), which only a stand-in can serve.
- ``tests/integration/verify/test_verify_cluster.py`` and ``scripts/bench_verify.py`` (the
  verify helper's area, not moved here: time): Deployments and pods with hand-set statuses
  (unready, waiting, spread over named nodes) and a stand-in ``kubectl`` for the exec checks;
  the plane can give the API side (``plane.gated_deployment``, statuses posted as a kubelet
  would, as ``test_verify_images.py`` now does), the exec side needs a running container.
"""
