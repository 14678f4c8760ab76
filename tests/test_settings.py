"""Settings: defaults < TOML file < ENLARGER_* environment < explicit overrides, with checked values."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from enlarger.settings import ENV_PREFIX, Settings, SettingsError, load_settings

DEFAULTS = {
    "max_input_bytes": 100 * 1024 * 1024,
    "max_input_pixels": 100_000_000,
    "max_animation_pixels": 50_000_000,
    "max_animation_frames": 3_000,
    "max_output_side": 12_000,
    "avif_effort": 2,
    "avif_max_side": 1200,  # Cloudflare's documented AVIF hard limits
    "avif_max_side_explicit": 1600,
    "webp_effort": 4,
    "gif_effort": 4,
    "svg_max_nodes": 200_000,
    "host": "127.0.0.1",
    "port": 8080,
    "tls_cert": "",
    "tls_key": "",
    "data_dir": Path("enlarger-data"),
    "origin": "",
    "allowed_hosts": (),
    "fetch_allowed_networks": (),
    "fetch_connect_timeout": 5.0,
    "fetch_timeout": 20.0,
    "fetch_max_redirects": 5,
    "origin_revalidate_seconds": 60,
    "cache_max_bytes": 1024**3,
    "cache_memory_bytes": 128 * 1024**2,
    "source_cache_bytes": 1024**3,
    "decode_cache_bytes": 256 * 1024**2,  # decoded source copies (issue 26)
    "cache_control_max_age": 172_800,
    "concurrency": 0,
    "queue_size": 32,
    "transform_timeout": 30.0,
    "processes": 1,
    "max_header_bytes": 64 * 1024,  # request limits (issue 24)
    "max_header_count": 100,
    "header_timeout": 10.0,
    "body_timeout": 30.0,
    "keep_alive_timeout": 5.0,
    "auth_failures_allowed": 10,
    "auth_failures_window": 60.0,
    "metrics_token": "",
    "metrics_per_account": False,
    "database_url": "",
    "storage": "local",
    "s3_endpoint": "",
    "s3_bucket": "",
    "s3_prefix": "originals/",
    "s3_region": "us-east-1",
    "s3_access_key_id": "",
    "s3_secret_access_key": "",
    "s3_connect_timeout": 3.0,
    "s3_read_timeout": 10.0,
    "s3_max_attempts": 2,
    "storage_concurrency": 8,
    "result_storage": "",
    "result_s3_bucket": "",
    "result_s3_prefix": "results/",
    "result_timeout": 1.0,
    "public_url": "",
    "image_quota": 100_000,
    "max_upload_bytes": 10 * 1024 * 1024,
    "catalog_cache_seconds": 1.0,
    "orphan_grace_seconds": 3600,
    "face_model": "",
    "face_model_kind": "blazeface",
    "face_min_score": 0.55,
    "segment_model": "",
    "segment_model_kind": "isnet",
    "segment_max_frames": 8,
    "inference_device": "auto",
    "inference_concurrency": 1,
    "inference_threads": 0,
    "upscale_model": "",
    "upscale_max_output_pixels": 16_000_000,
    "c2pa_preserve": False,
    "c2pa_sign_cert": "",
    "c2pa_sign_key": "",
    "c2pa_sign_alg": "es256",
    "c2pa_tsa_url": "",
    "c2pa_trust_anchors": "",
    "binding_max_input_bytes": 20 * 1024 * 1024,
    "binding_listen": "",
    "import_s3_access_key_id": "",
    "import_s3_secret_access_key": "",
    "import_api_token": "",
    "import_api_token_urls": ("https://api.cloudflare.com/client/v4",),
    "import_s3_credential_endpoints": (),
    "import_lease_seconds": 30.0,
    "import_poll_seconds": 5.0,
    "transformation_quota": 0,
    "usage_flush_seconds": 10.0,
    "purge_poll_seconds": 1.0,
    "purge_log_retention_seconds": 7 * 86400,
    "purge_webhook_url": "",
    "purge_webhook_secret": "",
    "dashboard_session_seconds": 28_800,
    "jpeg_shrink_margin": 1.5,
    "vips_concurrency": 1,
    "json_placeholders": True,
    "jxl_auto": False,
    "jxl_effort": 5,
}
NUMERIC = [
    f.name
    for f in dataclasses.fields(Settings)
    if isinstance(DEFAULTS[f.name], (int, float)) and not isinstance(DEFAULTS[f.name], bool)
]


def test_lists_come_from_toml_arrays_or_comma_separated_env(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'allowed_hosts = ["a.example", "*.b.example"]\n')
    assert load_settings(path, env={}).allowed_hosts == ("a.example", "*.b.example")
    env = {"ENLARGER_FETCH_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.2/32,"}
    assert load_settings(env=env).fetch_allowed_networks == ("10.0.0.0/8", "127.0.0.2/32")


def test_derived_values() -> None:
    assert Settings(concurrency=3).workers == 3
    assert Settings().workers == 2 * (os.cpu_count() or 1)  # two per core: docs/performance.md
    assert Settings(data_dir=Path("/srv/x")).origin_location == "/srv/x/origin"
    assert Settings(origin="https://img.example").origin_location == "https://img.example"
    assert Settings(data_dir=Path("/srv/x")).catalog_url == "sqlite:////srv/x/catalog.db"
    assert Settings(database_url="postgresql+psycopg://h/db").catalog_url == "postgresql+psycopg://h/db"


def test_choices_are_checked() -> None:
    with pytest.raises(SettingsError, match="storage must be one of local, s3"):
        load_settings(env={"ENLARGER_STORAGE": "ftp"})


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "enlarger.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    assert dataclasses.asdict(Settings()) == DEFAULTS
    assert load_settings(env={}) == Settings()


def test_every_field_has_a_doc() -> None:
    for f in dataclasses.fields(Settings):
        assert f.metadata["doc"].strip(), f.name


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().avif_effort = 5  # type: ignore[misc]


def test_toml_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_input_bytes = 1_000\navif_effort = 7\nwebp_effort = 6\n")
    settings = load_settings(path, env={})
    assert settings.max_input_bytes == 1000
    assert settings.avif_effort == 7
    assert settings.webp_effort == 6
    assert settings.max_output_side == 12_000  # untouched


def test_empty_toml_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write_toml(tmp_path, ""), env={}) == Settings()


def test_environment_overrides_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "avif_effort = 7\nmax_output_side = 4000\n")
    settings = load_settings(path, env={"ENLARGER_AVIF_EFFORT": "3", "ENLARGER_WEBP_EFFORT": " 5 "})
    assert settings.avif_effort == 3
    assert settings.webp_effort == 5
    assert settings.max_output_side == 4000


def test_explicit_overrides_win_and_none_is_ignored(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "avif_effort = 7\n")
    settings = load_settings(path, env={"ENLARGER_AVIF_EFFORT": "3"}, avif_effort=9, webp_effort=None)
    assert settings.avif_effort == 9
    assert settings.webp_effort == 4


def test_environment_integers_accept_underscores() -> None:
    assert load_settings(env={"ENLARGER_MAX_INPUT_PIXELS": "1_000_000"}).max_input_pixels == 1_000_000


def test_enlarger_config_points_at_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_output_side = 2048\n")
    assert load_settings(env={"ENLARGER_CONFIG": str(path)}).max_output_side == 2048


def test_enlarger_config_from_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_toml(tmp_path, "max_output_side = 2048\n")
    monkeypatch.setenv("ENLARGER_CONFIG", str(path))
    monkeypatch.setenv("ENLARGER_WEBP_EFFORT", "1")
    settings = load_settings()
    assert settings.max_output_side == 2048
    assert settings.webp_effort == 1


def test_explicit_config_wins_over_enlarger_config(tmp_path: Path) -> None:
    chosen = write_toml(tmp_path, "avif_effort = 5\n")
    other = tmp_path / "other.toml"
    other.write_text("avif_effort = 1\n", encoding="utf-8")
    assert load_settings(chosen, env={"ENLARGER_CONFIG": str(other)}).avif_effort == 5


def test_empty_enlarger_config_is_ignored() -> None:
    assert load_settings(env={"ENLARGER_CONFIG": ""}) == Settings()


def test_unrelated_environment_is_ignored() -> None:
    assert load_settings(env={"ENLARGER_NOT_A_SETTING": "x", "AVIF_EFFORT": "9", "PATH": "/bin"}) == Settings()


def test_unknown_toml_key(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "avif_effort = 3\nmax_widht = 5\nzzz = 1\n")
    with pytest.raises(SettingsError, match="unknown settings") as info:
        load_settings(path, env={})
    assert "max_widht, zzz" in str(info.value)
    assert str(path) in str(info.value)


def test_toml_table_is_an_unknown_key(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[server]\nport = 1\n")
    with pytest.raises(SettingsError, match="server"):
        load_settings(path, env={})


def test_malformed_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "avif_effort = = 3\n")
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        load_settings(missing, env={})
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(env={"ENLARGER_CONFIG": str(missing)})


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "12kb", "true", "0x10"])
def test_bad_int_in_environment_names_the_setting(raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"ENLARGER_MAX_INPUT_BYTES": raw})
    assert str(info.value) == f"setting max_input_bytes: cannot read {raw!r} as int"


@pytest.mark.parametrize("toml_value", ["1.5", "true", '"abc"', "[1, 2]", "{ a = 1 }"])
def test_bad_int_in_toml_names_the_setting(tmp_path: Path, toml_value: str) -> None:
    path = write_toml(tmp_path, f"max_output_side = {toml_value}\n")
    with pytest.raises(SettingsError, match="setting max_output_side: cannot read"):
        load_settings(path, env={})


def test_numeric_string_in_toml_is_read(tmp_path: Path) -> None:
    assert load_settings(write_toml(tmp_path, 'max_output_side = "640"\n'), env={}).max_output_side == 640


@pytest.mark.parametrize("name", NUMERIC)
def test_negative_values_are_rejected(name: str) -> None:
    with pytest.raises(SettingsError, match=rf"setting {name} must be (at least [\d.]+|\d+–\d+), got -1"):
        load_settings(env={f"{ENV_PREFIX}{name.upper()}": "-1"})
    with pytest.raises(SettingsError, match=name):
        Settings(**{name: -1})  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "ok"), [(0, True), (9, True), (10, False), (100, False)])
def test_avif_effort_range(value: int, ok: bool) -> None:
    if ok:
        assert Settings(avif_effort=value).avif_effort == value
        assert load_settings(env={"ENLARGER_AVIF_EFFORT": str(value)}).avif_effort == value
    else:
        with pytest.raises(SettingsError, match=f"avif_effort must be 0–9, got {value}"):
            Settings(avif_effort=value)
        with pytest.raises(SettingsError, match="avif_effort"):
            load_settings(env={"ENLARGER_AVIF_EFFORT": str(value)})


@pytest.mark.parametrize(("value", "ok"), [(0, True), (6, True), (7, False)])
def test_webp_effort_range(value: int, ok: bool) -> None:
    if ok:
        assert Settings(webp_effort=value).webp_effort == value
    else:
        with pytest.raises(SettingsError, match=f"webp_effort must be 0–6, got {value}"):
            Settings(webp_effort=value)


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (10, True), (11, False)])
def test_gif_effort_range(value: int, ok: bool) -> None:
    if ok:
        assert Settings(gif_effort=value).gif_effort == value
    else:
        with pytest.raises(SettingsError, match=f"gif_effort must be 1–10, got {value}"):
            Settings(gif_effort=value)


def test_avif_effort_out_of_range_in_toml(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="avif_effort"):
        load_settings(write_toml(tmp_path, "avif_effort = 12\n"), env={})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_every_setting_has_a_type_the_environment_can_spell() -> None:
    """Environment values are converted for these types only (``settings._convert``): a new kind,
    a tuple of ints say, needs its own conversion (and a test) before a setting may use it."""
    from pathlib import Path
    from typing import get_type_hints

    hints = get_type_hints(Settings)
    spelled = {str(kind) for kind in (bool, int, float, str, Path, tuple[str, ...])}
    assert {str(hints[f.name]) for f in dataclasses.fields(Settings)} <= spelled


@pytest.mark.parametrize(("word", "value"), [("true", True), ("On", True), ("1", True), ("no", False), ("0", False)])
def test_boolean_settings_read_words_from_the_environment(word: str, value: bool) -> None:
    assert load_settings(env={"ENLARGER_C2PA_PRESERVE": word}).c2pa_preserve is value


def test_a_boolean_setting_refuses_other_words() -> None:
    with pytest.raises(SettingsError, match="c2pa_preserve"):
        load_settings(env={"ENLARGER_C2PA_PRESERVE": "maybe"})
