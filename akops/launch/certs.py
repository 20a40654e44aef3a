"""Making the local control plane's certificates: one CA, a key pair per identity.

Rule: I/O (``openssl`` through ``akops.process``, files). Every component speaks TLS on
loopback and authenticates with a client certificate, as in a kubeadm cluster: the API server
and etcd serve certificates for ``127.0.0.1``/``localhost``; the controller manager and the
scheduler are ``system:kube-controller-manager`` and ``system:kube-scheduler`` (RBAC's bootstrap
roles grant them what they need, nothing more); the operator's kubeconfig and kwok are in
``system:masters``. The service-account signing key is a P-256 key (ES256 tokens).

EC keys, because ``openssl`` makes one in milliseconds; the whole set costs well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from akops import process
from akops.errors import ProcessTimeout, ToolMissingError

OPENSSL_TIMEOUT = 30.0
CURVE = "prime256v1"
#: The Service CIDR's first address: the ``kubernetes`` Service, which the serving cert names.
SERVICE_IP = "10.96.0.1"


@dataclass(frozen=True)
class Identity:
    """One certificate: who it is (CN, groups as O), where it is valid, what it may do."""

    name: str  # file stem
    common_name: str
    groups: tuple[str, ...] = ()
    serves: bool = False  # server auth with the loopback SANs, besides client auth


IDENTITIES = (
    Identity("kube-apiserver", "kube-apiserver", serves=True),
    Identity("etcd", "etcd", serves=True),
    Identity("apiserver-etcd-client", "kube-apiserver-etcd-client"),
    Identity("admin", "akops-admin", ("system:masters",)),
    Identity("kube-controller-manager", "system:kube-controller-manager"),
    Identity("kube-scheduler", "system:kube-scheduler"),
    Identity("kwok", "kwok-controller", ("system:masters",)),
)


@dataclass(frozen=True)
class Pki:
    """The files under ``root``: ``ca.crt``, ``<identity>.crt``/``.key``, ``sa.key``/``sa.pub``."""

    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"


def _openssl(*args: str, cwd: Path) -> None:
    try:
        done = process.run(["openssl", *args], timeout=OPENSSL_TIMEOUT, cwd=cwd)
    except ProcessTimeout as e:
        raise ToolMissingError(f"openssl: {e}") from e
    if not done.ok:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolMissingError(f"openssl {args[0]} failed: {tail[0]}")


def _config(identity: Identity | None) -> str:
    """An openssl ``req`` config of our own: the system's openssl.cnf adds nothing."""
    if identity is None:
        dn = "CN = akops-local-ca\n"
        ext = (
            "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier = hash\n"
        )
    else:
        dn = "".join(f"O = {g}\n" for g in identity.groups) + f"CN = {identity.common_name}\n"
        usages = "serverAuth,clientAuth" if identity.serves else "clientAuth"
        ext = (
            "basicConstraints = critical,CA:FALSE\n"
            "keyUsage = critical,digitalSignature\n"
            f"extendedKeyUsage = {usages}\n"
            "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
        )
        if identity.serves:
            ext += (
                f"subjectAltName = IP:127.0.0.1,DNS:localhost,IP:{SERVICE_IP},DNS:kubernetes,"
                "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
            )
    return f"[req]\nprompt = no\ndistinguished_name = dn\n[dn]\n{dn}[ext]\n{ext}"


def make_pki(root: Path) -> Pki:
    """Write a fresh CA, every identity's key pair and the service-account key under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    pki = Pki(root)
    newkey = ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{CURVE}", "-nodes"]
    (root / "ca.cnf").write_text(_config(None), encoding="utf-8")
    _openssl(
        "req", "-x509", *newkey, "-config", "ca.cnf", "-extensions", "ext",
        "-days", "3650", "-keyout", "ca.key", "-out", "ca.crt", cwd=root,
    )  # fmt: skip
    for identity in IDENTITIES:
        cnf = f"{identity.name}.cnf"
        (root / cnf).write_text(_config(identity), encoding="utf-8")
        _openssl(
            "req", "-x509", *newkey, "-config", cnf, "-extensions", "ext",
            "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "365",
            "-keyout", f"{identity.name}.key", "-out", f"{identity.name}.crt", cwd=root,
        )  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sa.key",
        cwd=root,
    )  # fmt: skip
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=root)
    for key in root.glob("*.key"):
        key.chmod(0o600)
    return pki
