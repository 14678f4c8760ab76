"""Content Credentials in the engine: what each transformation's manifest says, and when there is none."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pyvips

from enlarger import provenance
from enlarger.cli import main
from enlarger.errors import FeatureUnavailableError
from enlarger.pipeline import STEPS, transform
from enlarger.settings import Settings, SettingsError, load_settings
from tests.credentials import Authority, Identity, actions_of, active, capture, has_manifest, read_back
from tests.imaging import decode, gradient, save


@dataclass(frozen=True)
class Pki:
    authority: Authority
    camera: Identity
    enlarger: Identity
    directory: Path

    @property
    def anchors(self) -> Path:
        return self.directory / "anchors.pem"

    def settings(self, identity: Identity | None = None, **overrides: Any) -> Settings:
        signer = identity or self.enlarger
        cert, key = signer.write(self.directory)
        values: dict[str, Any] = {"c2pa_preserve": True, "c2pa_trust_anchors": str(self.anchors)}
        values |= {"c2pa_sign_cert": str(cert), "c2pa_sign_key": str(key), "c2pa_sign_alg": signer.alg}
        return Settings(**(values | overrides))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    authority = Authority()
    directory = tmp_path_factory.mktemp("pki")
    (directory / "anchors.pem").write_bytes(authority.pem)
    return Pki(authority, authority.issue("Test Camera"), authority.issue("Enlarger CDN"), directory)


@pytest.fixture(scope="module")
def photo(pki: Pki) -> bytes:
    """A 640×480 JPEG signed by the camera."""
    return capture(save(gradient(640, 480), "jpeg", Q=90), "image/jpeg", pki.camera)


def _actions(data: bytes, media_type: str, pki: Pki) -> dict[str, dict[str, Any]]:
    store = read_back(data, media_type, pki.authority.pem)
    assert store["validation_state"] == "Trusted", store.get("validation_results")
    return {action["action"]: action for action in actions_of(active(store))}


def test_resize_appends_a_signed_manifest_with_the_camera_as_parent(pki: Pki, photo: bytes) -> None:
    camera_store = read_back(photo, "image/jpeg", pki.authority.pem)
    result = transform(photo, "width=320", settings=pki.settings())
    store = read_back(result.data, "image/jpeg", pki.authority.pem)
    assert store["validation_state"] == "Trusted"
    assert len(store["manifests"]) == 2
    mine = active(store)
    assert mine["signature_info"]["common_name"] == "Enlarger CDN"
    assert mine["claim_generator_info"][0]["name"] == "Enlarger"
    [parent] = mine["ingredients"]
    assert parent["relationship"] == "parentOf"
    assert parent["active_manifest"] == camera_store["active_manifest"]
    assert store["manifests"][parent["active_manifest"]]["signature_info"]["common_name"] == "Test Camera"
    names = [action["action"] for action in actions_of(mine)]
    assert names == ["c2pa.opened", "c2pa.resized"]
    resized = actions_of(mine)[1]
    assert resized["parameters"]["originalDimensions"] == {"width": 640, "height": 480}
    assert resized["parameters"]["newDimensions"] == {"width": 320, "height": 240}
    assert resized["softwareAgent"]["name"] == "Enlarger"
    decoded = pyvips.Image.new_from_buffer(result.data, "")
    assert (decoded.width, decoded.height) == (320, 240)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("width=200,height=200,fit=cover", {"c2pa.resized", "c2pa.cropped"}),
        ("trim=10;20;10;20", {"c2pa.cropped"}),
        ("rotate=90", {"c2pa.orientation"}),
        ("flip=h,width=300", {"c2pa.orientation", "c2pa.resized"}),
        ("brightness=1.2,saturation=0.5", {"c2pa.color_adjustments"}),
        ("blur=3", {"c2pa.filtered"}),
        ("sharpen=2", {"c2pa.filtered"}),
        ("border.color=red,border.width=5", {"c2pa.drawing"}),
        ("width=300,height=300,fit=pad,background=white", {"c2pa.resized", "c2pa.drawing"}),
        ("format=webp", {"c2pa.converted"}),
        ("quality=40", {"c2pa.transcoded"}),
    ],
)
def test_actions_say_what_was_done(pki: Pki, photo: bytes, options: str, expected: set[str]) -> None:
    result = transform(photo, options, settings=pki.settings())
    found = _actions(result.data, result.media_type, pki)
    assert set(found) - {"c2pa.opened"} == expected
    if "c2pa.cropped" in expected and "fit=cover" in options:
        assert found["c2pa.resized"]["parameters"]["newDimensions"] == {"width": 267, "height": 200}
        assert "200×200" in found["c2pa.cropped"]["description"]
    if "brightness" in options:
        assert found["c2pa.color_adjustments"]["description"] == "brightness=1.2, saturation=0.5"


def test_every_step_names_its_action() -> None:
    # a step added to the pipeline without an action would silently go missing from the manifests
    assert [step.__name__ for step in STEPS] == list(provenance.STEP_ACTIONS)
    assert all(action.startswith("c2pa.") for action in provenance.STEP_ACTIONS.values())


@pytest.mark.parametrize("alg", ["es384", "ps256", "ed25519"])
def test_every_signing_algorithm(pki: Pki, photo: bytes, alg: str) -> None:
    identity = pki.authority.issue(f"Enlarger {alg}", alg)
    result = transform(photo, "width=100", settings=pki.settings(identity))
    store = read_back(result.data, "image/jpeg", pki.authority.pem)
    assert store["validation_state"] == "Trusted"
    assert active(store)["signature_info"]["common_name"] == f"Enlarger {alg}"


def _payload_offset(data: bytes, media_type: str) -> int:
    """An offset inside the image's coded pixels (never inside the manifest)."""
    marker = {"image/jpeg": b"\xff\xda", "image/png": b"IDAT", "image/webp": b"VP8", "image/avif": b"mdat"}[media_type]
    return data.rindex(marker) + 40


def test_a_changed_output_byte_fails_validation(pki: Pki, photo: bytes) -> None:
    result = transform(photo, "width=320", settings=pki.settings())
    tampered = bytearray(result.data)
    tampered[_payload_offset(result.data, "image/jpeg")] ^= 0x55
    store = read_back(bytes(tampered), "image/jpeg", pki.authority.pem)
    assert store["validation_state"] == "Invalid"
    codes = {item["code"] for item in store["validation_results"]["activeManifest"]["failure"]}
    assert "assertion.dataHash.mismatch" in codes


def test_metadata_none_drops_credentials(pki: Pki, photo: bytes) -> None:
    result = transform(photo, "width=320,metadata=none", settings=pki.settings())
    assert not has_manifest(result.data, "image/jpeg")


def test_without_identity_transformed_outputs_carry_no_manifest(pki: Pki, photo: bytes) -> None:
    settings = Settings(c2pa_preserve=True)
    assert not has_manifest(transform(photo, "width=320", settings=settings).data, "image/jpeg")
    assert not has_manifest(transform(photo, "width=320", settings=Settings()).data, "image/jpeg")


def _small_signed_jpeg(pki: Pki) -> bytes:
    """Low quality noise: re-encoding at the default quality is larger, so the original is served."""
    noise = pyvips.Image.gaussnoise(400, 300, mean=128, sigma=50).cast("uchar")
    rgb = noise.bandjoin([noise, noise]).copy(interpretation="srgb")
    return capture(save(rgb, "jpeg", Q=30, keep=pyvips.enums.ForeignKeep.NONE), "image/jpeg", pki.camera)


def test_a_passed_through_original_keeps_its_own_credentials(pki: Pki) -> None:
    original = _small_signed_jpeg(pki)
    for settings in (pki.settings(), Settings(c2pa_preserve=True), Settings()):
        assert transform(original, "width=1000", settings=settings).data == original
    stripped = transform(original, "width=1000,metadata=none", settings=pki.settings())
    assert stripped.data != original and not has_manifest(stripped.data, "image/jpeg")
    assert pyvips.Image.new_from_buffer(stripped.data, "").width == 400


def test_a_source_without_credentials_gets_none(pki: Pki) -> None:
    plain = save(gradient(300, 200), "jpeg", Q=90)
    assert not has_manifest(transform(plain, "width=100", settings=pki.settings()).data, "image/jpeg")


def _garbage_jumbf(photo: bytes) -> bytes:
    start = photo.index(b"jumb") + 60
    return photo[:start] + bytes((b * 7 + 3) & 0xFF for b in photo[start : start + 400]) + photo[start + 400 :]


def _bad_signature(photo: bytes) -> bytes:
    """The last byte of the claim signature (COSE_Sign1 ends with the signature) changed."""
    label = photo.index(b"c2pa.signature\x00")
    cbor = photo.index(b"cbor", label)
    end = cbor - 4 + int.from_bytes(photo[cbor - 4 : cbor], "big")
    return photo[: end - 1] + bytes([photo[end - 1] ^ 0x01]) + photo[end:]


def _changed_pixels(photo: bytes) -> bytes:
    offset = _payload_offset(photo, "image/jpeg")
    return photo[:offset] + bytes([photo[offset] ^ 0x20]) + photo[offset + 1 :]


@pytest.mark.parametrize("spoil", [_garbage_jumbf, _bad_signature, _changed_pixels])
def test_bad_credentials_are_dropped_and_the_image_served(
    pki: Pki, photo: bytes, spoil: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spoiled = spoil(photo)
    with caplog.at_level(logging.WARNING, logger="enlarger.provenance"):
        result = transform(spoiled, "width=200", settings=pki.settings())
    assert pyvips.Image.new_from_buffer(result.data, "").width == 200
    assert not has_manifest(result.data, "image/jpeg")
    assert "Content Credentials of the source dropped" in caplog.text


def test_huge_manifest_is_dropped(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    huge_thumbnail = save(gradient(300, 200), "jpeg", Q=90) + bytes(provenance.MAX_STORE_BYTES)
    bloated = capture(save(gradient(300, 200), "jpeg", Q=90), "image/jpeg", pki.camera, huge_thumbnail)
    with caplog.at_level(logging.WARNING, logger="enlarger.provenance"):
        result = transform(bloated, "width=100", settings=pki.settings())
    assert len(result.data) < 100_000 and not has_manifest(result.data, "image/jpeg")
    assert "would add" in caplog.text


def test_an_output_c2pa_cannot_sign_is_served_without_credentials(
    pki: Pki, photo: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # provenance.md: credentials c2pa-rs cannot embed in the output (a bare JPEG XL codestream) are
    # dropped with a log line; the transformation succeeds
    with caplog.at_level(logging.WARNING, logger="enlarger.provenance"):
        result = transform(photo, "width=100,format=jxl", settings=pki.settings())
    assert result.data[:2] == b"\xff\x0a" and decode(result.data).width == 100  # a JPEG XL codestream
    assert "Content Credentials of the source dropped" in caplog.text


def test_cyclic_parents_end_the_chain() -> None:
    def manifest(parent: str) -> dict[str, Any]:
        ingredient = {"relationship": "parentOf", "active_manifest": parent}
        return {"claim_generator_info": [{"name": parent, "version": "1"}], "ingredients": [ingredient]}

    store = provenance.Store({"a": manifest("b"), "b": manifest("a")}, "a", "Valid", ())
    assert [label for label, _ in store.chain] == ["a", "b"]


def test_format_json_reports_the_source_credentials(pki: Pki, photo: bytes) -> None:
    signed_once = transform(photo, "width=320", settings=pki.settings()).data
    report = json.loads(transform(signed_once, "format=json", settings=pki.settings()).data)
    assert report["content_credentials"] == {
        "present": True,
        "validation_state": "Trusted",
        "claim_generators": ["Test Camera 1.0", "Enlarger 0.1.0"],
    }
    plain = save(gradient(30, 20), "png")
    assert json.loads(transform(plain, "format=json", settings=pki.settings()).data)["content_credentials"] == {
        "present": False
    }
    assert "content_credentials" not in json.loads(transform(photo, "format=json").data)


def test_settings_from_the_environment(pki: Pki, tmp_path: Path) -> None:
    cert, key = pki.enlarger.write(tmp_path)
    env = {
        "ENLARGER_C2PA_PRESERVE": "true",
        "ENLARGER_C2PA_SIGN_CERT": str(cert),
        "ENLARGER_C2PA_SIGN_KEY": str(key),
        "ENLARGER_C2PA_SIGN_ALG": "es384",
        "ENLARGER_C2PA_TSA_URL": "http://tsa.example/",
    }
    settings = load_settings(env=env)
    assert settings.c2pa_preserve is True and settings.c2pa_sign_alg == "es384"
    assert (settings.c2pa_sign_cert, settings.c2pa_sign_key, settings.c2pa_tsa_url) == (
        str(cert),
        str(key),
        "http://tsa.example/",
    )
    with pytest.raises(SettingsError, match="go together"):
        load_settings(env={"ENLARGER_C2PA_SIGN_CERT": str(cert)})
    with pytest.raises(SettingsError, match="c2pa_sign_alg"):
        load_settings(env={"ENLARGER_C2PA_SIGN_ALG": "md5"})
    with pytest.raises(SettingsError, match="c2pa_tsa_url"):
        load_settings(env={"ENLARGER_C2PA_TSA_URL": "ftp://x"})


def test_cache_token_follows_the_setting_and_identity(pki: Pki) -> None:
    assert provenance.cache_token(Settings()) == ""
    unsigned = provenance.cache_token(Settings(c2pa_preserve=True))
    signed = provenance.cache_token(pki.settings())
    other = provenance.cache_token(pki.settings(pki.authority.issue("Another CDN")))
    assert len({"", unsigned, signed, other}) == 4
    assert provenance.cache_token(pki.settings()) == signed


def test_unreadable_identity_is_a_clear_error(pki: Pki, photo: bytes, tmp_path: Path) -> None:
    settings = Settings(c2pa_preserve=True, c2pa_sign_cert=str(tmp_path / "nope.pem"), c2pa_sign_key="k.pem")
    with pytest.raises(FeatureUnavailableError, match="cannot read c2pa_sign_cert"):
        transform(photo, "width=100", settings=settings)


def test_cli_verify_prints_the_chain(
    pki: Pki, photo: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "out.jpg"
    path.write_bytes(transform(photo, "width=320", settings=pki.settings()).data)
    assert main(["c2pa", "verify", str(path), "--trust", str(pki.anchors)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "validation: Trusted"
    assert text[1].startswith("Enlarger 0.1.0 — signed by Enlarger CDN")
    assert text[2] == "  actions: c2pa.opened, c2pa.resized"
    assert text[3].startswith("  Test Camera 1.0 — signed by Test Camera")
    assert main(["c2pa", "verify", str(path), "--json"]) == 0  # intact, but no anchor vouches for the signer
    found = json.loads(capsys.readouterr().out)
    assert found["validation_state"] == "Valid" and "signingCredential.untrusted" in found["failures"]
    assert [entry["signer"] for entry in found["chain"]] == ["Enlarger CDN", "Test Camera"]
    plain = tmp_path / "plain.png"
    plain.write_bytes(save(gradient(30, 20), "png"))
    assert main(["c2pa", "verify", str(plain)]) == 3
    assert capsys.readouterr().out.strip() == "no Content Credentials"
