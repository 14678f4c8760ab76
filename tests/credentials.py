"""A test certificate authority, C2PA signing identities made from it, and a "camera" that signs.

C2PA validators (c2pa-rs) refuse end-entity certificates that are self-signed, lack a critical
key usage with digitalSignature, or carry no emailProtection/documentSigning EKU, so the tests
build a real two-level PKI: a root CA (the trust anchor) issuing one certificate per signer.
"""

from __future__ import annotations

import datetime
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_NOW = datetime.datetime.now(datetime.UTC)
_NOT_A_CA = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Enlarger tests"),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    pkcs8, clear = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, clear)


def _new_key(alg: str) -> PrivateKey:
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ps256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def _sign_cert(builder: x509.CertificateBuilder, key: PrivateKey, alg: str) -> x509.Certificate:
    if alg == "ed25519":
        return builder.sign(key, None)
    if alg == "ps256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return builder.sign(key, hashes.SHA256(), rsa_padding=pss)
    return builder.sign(key, hashes.SHA384() if alg == "es384" else hashes.SHA256())


@dataclass(frozen=True)
class Identity:
    """A signing certificate chain (end entity, then the CA) and its private key, as PEM."""

    name: str
    alg: str
    chain: bytes
    key: bytes

    def write(self, directory: Path) -> tuple[Path, Path]:
        """The chain and key as files, as ``c2pa_sign_cert`` and ``c2pa_sign_key`` take them."""
        cert_path, key_path = directory / f"{self.name}-chain.pem", directory / f"{self.name}-key.pem"
        cert_path.write_bytes(self.chain)
        key_path.write_bytes(self.key)
        return cert_path, key_path

    def signer(self) -> c2pa.Signer:
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(self.alg, self.chain, self.key, None))


class Authority:
    """A root CA; ``issue`` makes C2PA-conformant signing identities under it."""

    def __init__(self, name: str = "Enlarger Test Root") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        ca_usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(days=1))
            .not_valid_after(_NOW + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(ca_usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
        )
        self.cert = builder.sign(self.key, hashes.SHA256())

    @property
    def pem(self) -> bytes:
        return _pem(self.cert)

    def issue(self, common_name: str, alg: str = "es256") -> Identity:
        key = _new_key(alg)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(days=1))
            .not_valid_after(_NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_NOT_A_CA, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        cert = builder.sign(self.key, hashes.SHA256())
        return Identity(common_name, alg, _pem(cert) + self.pem, _key_pem(key))


CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
_OFFLINE: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "builder": {"thumbnail": {"enabled": False}},
}


def capture(data: bytes, media_type: str, camera: Identity, thumbnail: bytes | None = None) -> bytes:
    """``data`` signed as a camera would: a C2PA manifest with a ``c2pa.created`` capture action
    (and ``thumbnail`` as its claim thumbnail, if given)."""
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": "Test Camera", "version": "1.0"}],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": CAPTURE}]}},
        ],
    }
    if thumbnail is not None:
        definition["thumbnail"] = {"format": "image/jpeg", "identifier": "thumbnail.jpg"}
    with c2pa.Context.from_dict(_OFFLINE) as context, c2pa.Builder(definition, context=context) as builder:
        if thumbnail is not None:
            builder.add_resource("thumbnail.jpg", io.BytesIO(thumbnail))
        out = io.BytesIO()
        with camera.signer() as signer:
            builder.sign(signer, media_type, io.BytesIO(data), out)
    return out.getvalue()


def read_back(data: bytes, media_type: str, anchors: bytes) -> dict[str, Any]:
    """The manifest store of ``data`` as c2pa-python reports it, validated against ``anchors``."""
    config = _OFFLINE | {"trust": {"user_anchors": anchors.decode()}}
    with c2pa.Context.from_dict(config) as context, c2pa.Reader(media_type, io.BytesIO(data), None, context) as reader:
        parsed: dict[str, Any] = json.loads(reader.json())
    return parsed


def has_manifest(data: bytes, media_type: str) -> bool:
    with c2pa.Context.from_dict(_OFFLINE) as context:
        reader = c2pa.Reader.try_create(media_type, io.BytesIO(data), None, context)
        if reader is None:
            return False
        reader.close()
        return True


def active(store: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = store["manifests"][store["active_manifest"]]
    return manifest


def actions_of(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    for assertion in manifest["assertions"]:
        if assertion["label"].startswith("c2pa.actions"):
            found: list[dict[str, Any]] = assertion["data"]["actions"]
            return found
    return []
