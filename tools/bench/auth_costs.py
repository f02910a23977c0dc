"""Median cost of one password hash and one access-token verification.

    python tools/bench/auth_costs.py        (or: make bench)

Uses the service's own PasswordHasher and TokenVerifier with a fresh Ed25519
key; no database needed.
"""

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.config import AuthSettings
from auth_service.keyring import Keyring
from auth_service.passwords import PasswordHasher


async def _median(runs: int, operation) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await operation()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        key_file = Path(folder) / "key.pem"
        key_file.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        keyring = Keyring(AuthSettings(environment="development", jwt_private_key_file=key_file))
    hasher = PasswordHasher(1)
    hashed = await hasher.hash("correct horse battery")
    token = keyring.issue_access_token("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002")

    hash_s = await _median(20, lambda: hasher.hash("correct horse battery"))
    verify_password_s = await _median(20, lambda: hasher.verify("correct horse battery", hashed))
    verify_token_s = await _median(5000, lambda: keyring.verifier.verify(token))
    sign_token_s = await _median(5000, lambda: asyncio.sleep(0, keyring.issue_access_token("x", "y")))
    print(f"argon2id hash (m=19456 KiB, t=2, p=1): median {hash_s * 1000:.1f} ms over 20 runs")
    print(f"argon2id verify:                        median {verify_password_s * 1000:.1f} ms over 20 runs")
    print(f"access token verify (EdDSA, JWKS kid):  median {verify_token_s * 1e6:.0f} us over 5000 runs")
    print(f"access token sign (EdDSA):              median {sign_token_s * 1e6:.0f} us over 5000 runs")


if __name__ == "__main__":
    asyncio.run(main())
