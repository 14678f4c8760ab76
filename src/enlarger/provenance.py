"""Content Credentials (C2PA): keep a source's manifests through a transformation and sign what changed.

A C2PA manifest binds a signed claim to a hash of the exact bytes it describes, so credentials
cannot simply be copied onto a re-encoded image: that would be a claim about other bytes. What
Cloudflare's "Preserve Content Credentials" does, and this module does, is add a new manifest
whose parent ingredient is the source's manifest store and whose ``c2pa.actions`` say what
Enlarger did, signed by the operator's identity and bound to the output's bytes. Everything
goes through the C2PA reference implementation (``c2pa-python``, the official binding of
c2pa-rs); nothing here parses or writes JUMBF.

The rules (docs/provenance.md):

- ``c2pa_preserve`` on, ``metadata`` copyright or keep, a signing identity configured, and the
  source's credentials readable and not invalid: the output gets the new signed manifest.
- No identity: transformed outputs carry no manifest (nothing would vouch for the new bytes).
- ``metadata=none``: no credentials at all, so an original is not passed through if it has some.
- An original passed through unchanged keeps its own credentials, byte for byte.
- A source manifest that cannot be read, is invalid or is absurdly large is dropped with a log
  line; the image is always served.

Reading runs with remote manifest fetches and OCSP off, so nothing here touches the network
(except a configured time-stamp authority at signing time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import c2pa

from enlarger import formats
from enlarger.codecs import sniff
from enlarger.errors import FeatureUnavailableError, UnsupportedFormatError
from enlarger.job import Decision
from enlarger.settings import PerSettings, Settings

logger = logging.getLogger("enlarger.provenance")

#: Manifest stores adding more than this to an output are dropped: credentials that outweigh a
#: thumbnail many times over are an attack (or a mistake), not provenance worth serving.
MAX_STORE_BYTES = 4 * 1024 * 1024
#: Most manifests followed from the active one through parent ingredients (a cycle ends sooner).
MAX_CHAIN = 64
#: Validation states in which a source's credentials are carried on (``Invalid`` ones are dropped).
KEPT_STATES = ("Valid", "Trusted")
_KEEPING_METADATA = ("copyright", "keep")
#: What reading a hostile store can raise: c2pa-rs errors (and panics it turns into errors),
#: malformed JSON, JSON of the wrong shape. All of them mean "drop the credentials".
UNREADABLE = (c2pa.C2paError, ValueError, TypeError, AttributeError, KeyError, RuntimeError)


@dataclasses.dataclass(frozen=True)
class Store:
    """A source's manifest store as c2pa-rs reads and validates it."""

    manifests: dict[str, Any]
    active: str | None
    validation_state: str | None
    failures: tuple[str, ...]

    @property
    def chain(self) -> list[tuple[str, dict[str, Any]]]:
        """(label, manifest) from the active manifest back through each parent: newest first."""
        found: list[tuple[str, dict[str, Any]]] = []
        label, seen = self.active, set()
        while label is not None and label in self.manifests and label not in seen and len(found) < MAX_CHAIN:
            seen.add(label)
            manifest = self.manifests[label]
            found.append((label, manifest))
            label = _parent_label(manifest)
        return found


def _parent_label(manifest: dict[str, Any]) -> str | None:
    for ingredient in manifest.get("ingredients") or ():
        if isinstance(ingredient, dict) and ingredient.get("relationship") == "parentOf":
            label = ingredient.get("active_manifest")
            return label if isinstance(label, str) else None
    return None


def claim_generator(manifest: dict[str, Any]) -> str:
    """ "Name version" of the software that made a manifest (C2PA v2 ``claim_generator_info``, or v1)."""
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name", ""), info[0].get("version", "")
        return f"{name} {version}".strip() if isinstance(version, str) else str(name)
    return str(manifest.get("claim_generator", ""))


# --- the c2pa-rs configuration, built once per settings object


def _read_pem(setting: str, path: str) -> bytes:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise FeatureUnavailableError(
            f"Content Credentials: cannot read {setting} {path!r} ({exc.strerror or exc})"
        ) from exc
    if b"-----BEGIN " not in data:
        raise FeatureUnavailableError(f"Content Credentials: {setting} {path!r} is not a PEM file")
    return data


def _config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}},  # a thumbnail would mean decoding pixels in c2pa-rs
    }
    if settings.c2pa_trust_anchors:
        anchors = _read_pem("c2pa_trust_anchors", settings.c2pa_trust_anchors)
        config["trust"] = {"user_anchors": anchors.decode()}
    return config


def _build_context(settings: Settings) -> c2pa.Context:
    return c2pa.Context.from_dict(_config(settings))


_context = PerSettings(_build_context)


@dataclasses.dataclass(frozen=True)
class _Identity:
    certs: bytes
    key: bytes
    alg: str
    tsa_url: str | None

    def signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(self.alg, self.certs, self.key, self.tsa_url)
        try:
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise FeatureUnavailableError(f"Content Credentials: the signing identity is unusable ({exc})") from exc


def _build_identity(settings: Settings) -> _Identity | None:
    if not settings.c2pa_sign_cert:
        return None
    certs = _read_pem("c2pa_sign_cert", settings.c2pa_sign_cert)
    key = _read_pem("c2pa_sign_key", settings.c2pa_sign_key)
    return _Identity(certs, key, settings.c2pa_sign_alg, settings.c2pa_tsa_url or None)


_identity = PerSettings(_build_identity)


def _build_token(settings: Settings) -> str:
    if not settings.c2pa_preserve:
        return ""  # keys as before the feature existed: turning it on later is the only change
    digest = hashlib.sha256(b"c2pa")
    identity: _Identity | None = _identity(settings)
    if identity is not None:
        digest.update(identity.certs + identity.alg.encode() + (identity.tsa_url or "").encode())
    if settings.c2pa_trust_anchors:  # the ingredient's recorded validation status depends on them
        digest.update(_read_pem("c2pa_trust_anchors", settings.c2pa_trust_anchors))
    return f",c2pa={digest.hexdigest()[:16]}"


_tokens = PerSettings(_build_token)


def cache_token(settings: Settings) -> str:
    """What the output cache key must add for these settings: the preserve setting and the identity
    (a fingerprint of the certificate chain), so turning either on or rotating a certificate never
    serves an output made under the old ones. Empty while the feature is off."""
    token: str = _tokens(settings)
    return token


# --- reading


def _media_type(data: bytes) -> str | None:
    try:
        fmt = sniff(data)
    except UnsupportedFormatError:
        return None  # c2pa-rs detects the container itself
    return formats.SPECS[fmt].media_type


def read(data: bytes, settings: Settings, media_type: str | None = None) -> Store | None:
    """The manifest store embedded in ``data``, validated; ``None`` when there is none.

    Raises :class:`c2pa.C2paError` (or ``ValueError``/``AttributeError`` for nonsense JSON) when
    there is something that is not a readable store: the callers decide what dropping it means.
    """
    return _parse(data, _context(settings), media_type)


def _parse(data: bytes, context: c2pa.Context, media_type: str | None = None) -> Store | None:
    reader = c2pa.Reader.try_create(media_type or _media_type(data), io.BytesIO(data), None, context)
    if reader is None:
        return None
    with reader:
        parsed = json.loads(reader.json())
    manifests = parsed.get("manifests") or {}
    if not isinstance(manifests, dict):
        raise ValueError("the manifest store's manifests are not a map")
    active_results = (parsed.get("validation_results") or {}).get("activeManifest") or {}
    failures = tuple(str(item.get("code")) for item in active_results.get("failure") or () if isinstance(item, dict))
    active = parsed.get("active_manifest")
    state = parsed.get("validation_state")
    label = active if isinstance(active, str) else None
    return Store(manifests, label, state if isinstance(state, str) else None, failures)


def _usable(data: bytes, media_type: str, settings: Settings) -> Store | None:
    """The source's store when it can be carried on; anything wrong with it is logged and dropped."""
    try:
        store = read(data, settings, media_type)
    except UNREADABLE as exc:
        logger.warning("Content Credentials of the source dropped: unreadable manifest store (%s)", exc)
        return None
    if store is None:
        return None
    if store.validation_state not in KEPT_STATES or store.active is None:
        logger.warning(
            "Content Credentials of the source dropped: validation state %s (%s)",
            store.validation_state,
            ", ".join(store.failures) or "no active manifest",
        )
        return None
    return store


def report(data: bytes, settings: Settings) -> dict[str, Any]:
    """What ``format=json`` says about the source's credentials (only when ``c2pa_preserve`` is on)."""
    try:
        store = read(data, settings)
    except UNREADABLE as exc:  # malformed credentials are reported, never a reason to fail
        logger.warning("Content Credentials of the source unreadable (%s)", exc)
        return {"present": True, "validation_state": "Unreadable", "claim_generators": []}
    if store is None:
        return {"present": False}
    generators = [claim_generator(manifest) for _, manifest in reversed(store.chain)]
    return {"present": True, "validation_state": store.validation_state, "claim_generators": generators}


def with_report(body: bytes, data: bytes, settings: Settings) -> bytes:
    """The ``format=json`` answer ``body`` with a ``content_credentials`` field when preserving is on."""
    if not settings.c2pa_preserve:
        return body
    described = json.loads(body)
    described["content_credentials"] = report(data, settings)
    return json.dumps(described, separators=(",", ":")).encode()


# --- describing and signing a transformation


def _agent() -> dict[str, str]:
    return {"name": "Enlarger", "version": version("enlarger")}


def _changed(options: Any, names: tuple[str, ...], neutral: float) -> list[str]:
    return [f"{name}={getattr(options, name):g}" for name in names if getattr(options, name) != neutral]


#: The C2PA action each step of ``pipeline.STEPS`` reports when it changed the image, in the
#: steps' order (a test holds the two lists together: a new step names its action here, or its
#: work would go missing from the credentials). The decoder's resize reports ``c2pa.resized``.
STEP_ACTIONS: Mapping[str, str] = {
    "trim": "c2pa.cropped",
    "rotate_flip": "c2pa.orientation",
    "crop": "c2pa.cropped",
    "pad": "c2pa.drawing",
    "adjust": "c2pa.color_adjustments",
    "blur": "c2pa.filtered",
    "sharpen": "c2pa.filtered",
    "segment": "c2pa.edited",
    "draw": "c2pa.placed",
    "background": "c2pa.drawing",
    "border": "c2pa.drawing",
}


def actions(decision: Decision, overlays: int = 0) -> list[dict[str, Any]]:
    """The ``c2pa.actions`` for what the engine did to the source, in the order the steps ran
    (``overlays``: how many images the draw step composited onto it)."""
    options, header, plan = decision.options, decision.header, decision.plan
    did = STEP_ACTIONS
    found: list[tuple[str, dict[str, Any]]] = []
    if plan.trim is not None:
        found.append((did["trim"], {"description": "edges trimmed"}))
    if header.orientation != 1 or options.rotate or options.flip:
        turned = [f"rotate={options.rotate}"] if options.rotate else []
        turned += [f"flip={options.flip}"] if options.flip else []
        found.append((did["rotate_flip"], {"description": ", ".join(["EXIF orientation applied", *turned])}))
    scaled = plan.trim is not None and (plan.trim.width, plan.trim.height) != plan.trimmed
    if plan.load_size != plan.oriented or scaled:
        original = {"width": header.width, "height": header.height}
        new = {"width": plan.resized[0], "height": plan.resized[1]}
        found.append(("c2pa.resized", {"parameters": {"originalDimensions": original, "newDimensions": new}}))
    if plan.crop is not None:
        found.append((did["crop"], {"description": f"cropped to {plan.crop[0]}×{plan.crop[1]} (fit={options.fit})"}))
    if plan.canvas is not None:
        found.append((did["pad"], {"description": f"padded to {plan.canvas[0]}×{plan.canvas[1]} (fit=pad)"}))
    colour = _changed(options, ("brightness", "contrast", "gamma", "saturation"), 1.0)
    if colour:
        found.append((did["adjust"], {"description": ", ".join(colour)}))
    filters = _changed(options, ("blur", "sharpen"), 0.0)
    if filters:  # blur and sharpen as one action
        found.append((did["blur"], {"description": ", ".join(filters)}))
    if options.segment:
        found.append((did["segment"], {"description": f"background removed (segment={options.segment})"}))
    if overlays:
        found.append((did["draw"], {"description": f"{overlays} overlay image(s) drawn"}))
    if options.background is not None and header.has_alpha:
        found.append((did["background"], {"description": "transparent areas filled with the background colour"}))
    if any(plan.border):
        found.append((did["border"], {"description": "border drawn"}))
    if header.animated and not decision.all_frames:
        found.append(("c2pa.edited", {"description": "first frame of the animation kept"}))
    if decision.format != header.format:
        found.append(
            ("c2pa.converted", {"description": f"{header.media_type} → {formats.media_type(decision.format)}"})
        )
    elif not found:
        found.append(("c2pa.transcoded", {"description": "re-encoded"}))
    agent = _agent()
    return [{"action": name, "softwareAgent": agent, **details} for name, details in found]


def sign(
    source: bytes, source_type: str, output: bytes, output_type: str, done: list[dict[str, Any]], settings: Settings
) -> bytes:
    """``output`` with a new manifest embedded: parent ingredient ``source`` (its whole store), the
    ``done`` actions, signed with the configured identity. Raises :class:`c2pa.C2paError`."""
    identity: _Identity | None = _identity(settings)
    if identity is None:
        raise FeatureUnavailableError("Content Credentials: no signing identity (c2pa_sign_cert, c2pa_sign_key)")
    definition = {
        "claim_generator_info": [_agent()],
        "assertions": [{"label": "c2pa.actions", "data": {"actions": done}}],
    }
    with c2pa.Builder(definition, context=_context(settings)) as builder, identity.signer() as signer:
        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)  # adds the c2pa.opened action for the parent
        builder.add_ingredient({"title": "original", "relationship": "parentOf"}, source_type, io.BytesIO(source))
        signed = io.BytesIO()
        builder.sign(signer, output_type, io.BytesIO(output), signed)
    return signed.getvalue()


def credentials(
    source: bytes, output: bytes, passthrough: bool, decision: Decision, settings: Settings, overlays: int = 0
) -> bytes:
    """The bytes to serve, given the encoded ``output`` and whether the untouched ``source`` would do
    (``passthrough``): the one place the engine applies the Content Credentials rules."""
    options = decision.options
    if options.metadata not in _KEEPING_METADATA:
        if passthrough and not _carries_store(source, settings):
            return source
        return output  # encoders never copy C2PA boxes: the re-encoded output has none
    if passthrough:
        return source  # its own credentials describe exactly these bytes
    if not settings.c2pa_preserve or _identity(settings) is None:
        return output
    source_type = decision.header.media_type
    store = _usable(source, source_type, settings)
    if store is None:
        return output  # Cloudflare: without credentials in the source "no action is taken"
    output_type = formats.media_type(decision.format)
    done = actions(decision, overlays)
    try:
        signed = sign(source, source_type, output, output_type, done, settings)
    except c2pa.C2paError as exc:
        logger.warning("Content Credentials of the source dropped: signing the output failed (%s)", exc)
        return output
    if len(signed) - len(output) > MAX_STORE_BYTES:
        added = len(signed) - len(output)
        logger.warning("Content Credentials of the source dropped: the manifest store would add %d bytes", added)
        return output
    return signed


def _carries_store(data: bytes, settings: Settings) -> bool:
    """Whether ``data`` has any C2PA manifest store, readable or not (both must go with metadata=none)."""
    try:
        return read(data, settings) is not None
    except UNREADABLE:  # a store c2pa-rs cannot read is still a store: do not pass it through
        return True


# --- enlarger c2pa verify


def verify(data: bytes, settings: Settings, trust: bytes | None = None) -> dict[str, Any]:
    """The credentials of a file for ``enlarger c2pa verify``: validation and the chain, newest first.

    ``trust`` adds root certificates (PEM) to the configured ``c2pa_trust_anchors``.
    """
    context = _context(settings)
    if trust is not None:
        config = _config(settings)
        anchors = config.get("trust", {}).get("user_anchors", "") + "\n" + trust.decode()
        context = c2pa.Context.from_dict(config | {"trust": {"user_anchors": anchors}})
    try:
        store = _parse(data, context)
    except UNREADABLE as exc:  # a damaged store, or one only referenced by URL (never fetched: offline)
        return {"present": True, "validation_state": "Unreadable", "failures": [str(exc)], "chain": []}
    if store is None:
        return {"present": False, "validation_state": None, "failures": [], "chain": []}
    return {
        "present": True,
        "validation_state": store.validation_state,
        "failures": list(store.failures),
        "chain": [_summary(label, manifest) for label, manifest in store.chain],
    }


def _summary(label: str, manifest: dict[str, Any]) -> dict[str, Any]:
    signature = manifest.get("signature_info") or {}
    actions_found: list[str] = []
    for assertion in manifest.get("assertions") or ():
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or ():
                if isinstance(action, dict):
                    actions_found.append(str(action.get("action")))
    return {
        "label": label,
        "claim_generator": claim_generator(manifest),
        "signer": signature.get("common_name") or signature.get("issuer"),
        "issuer": signature.get("issuer"),
        "signed_at": signature.get("time"),
        "actions": actions_found,
    }


def describe_chain(found: dict[str, Any]) -> Iterator[str]:
    """The lines ``enlarger c2pa verify`` prints for :func:`verify`'s result."""
    if not found["present"]:
        yield "no Content Credentials"
        return
    failures = f" ({', '.join(found['failures'])})" if found["failures"] else ""
    yield f"validation: {found['validation_state']}{failures}"
    for depth, entry in enumerate(found["chain"]):
        when = f", {entry['signed_at']}" if entry["signed_at"] else ""
        yield f"{'  ' * depth}{entry['claim_generator'] or '?'} — signed by {entry['signer'] or '?'}{when}"
        if entry["actions"]:
            yield f"{'  ' * depth}  actions: {', '.join(entry['actions'])}"
