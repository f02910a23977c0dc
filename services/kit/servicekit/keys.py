"""Public signing keys as JWKs, with RFC 7638 thumbprints as `kid`s."""

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

PublicKey = Ed25519PublicKey | RSAPublicKey
PrivateKey = Ed25519PrivateKey | RSAPrivateKey

# The algorithms we sign with, and the only ones a verifier accepts.
SIGNING_ALGORITHMS = frozenset({"EdDSA", "RS256"})

# The members RFC 7638 hashes, per key type.
_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


def algorithm_for(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, (Ed25519PublicKey, Ed25519PrivateKey)):
        return "EdDSA"
    if isinstance(key, (RSAPublicKey, RSAPrivateKey)):
        return "RS256"
    raise ValueError(f"unsupported signing key type: {type(key).__name__}")


def thumbprint(jwk: dict[str, Any]) -> str:
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def public_jwk(key: PublicKey) -> dict[str, Any]:
    algorithm = algorithm_for(key)
    jwk: dict[str, Any] = (
        OKPAlgorithm.to_jwk(key, as_dict=True)
        if isinstance(key, Ed25519PublicKey)
        else RSAAlgorithm.to_jwk(key, as_dict=True)
    )
    jwk.update(use="sig", alg=algorithm, kid=thumbprint(jwk))
    return jwk


def load_private_key(pem: bytes) -> PrivateKey:
    key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey | RSAPrivateKey):
        raise ValueError(f"unsupported signing key type: {type(key).__name__}")
    return key


def load_public_keys(pem_bundle: bytes) -> list[PublicKey]:
    """Every public key in a PEM bundle (one or more `BEGIN PUBLIC KEY` blocks)."""
    marker = b"-----END PUBLIC KEY-----"
    blocks = [block + marker for block in pem_bundle.split(marker) if block.strip()]
    keys = [load_pem_public_key(block.strip()) for block in blocks]
    unsupported = [type(key).__name__ for key in keys if not isinstance(key, Ed25519PublicKey | RSAPublicKey)]
    if unsupported:
        raise ValueError(f"unsupported public key type: {', '.join(unsupported)}")
    return keys  # type: ignore[return-value]  # narrowed by the check above
