"""Settings -> Log: validation as CloudWatch's, the secret encrypted and never shown,
``cloudwatch_configure``, and "test connection" in plain words."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from botocore.stub import Stubber
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

import audit
from cloudwatch_export import connection, crypto, export
from cloudwatch_export.models import ExportSettings, StreamMapping
from cloudwatch_export.validation import validate_log_group, validate_region, validate_stream

from .cloudwatch_helpers import ACCESS_KEY, REGION, SECRET_KEY, configure, free_port, moto_url


@pytest.mark.parametrize("name", ["a", "/aws/lambda/x", "app.log-1_#2", "x" * 512])
def test_valid_log_group_names(name: str) -> None:
    validate_log_group(name)


@pytest.mark.parametrize("name", ["", "has space", "colon:no", "star*", "ü", "x" * 513])
def test_invalid_log_group_names(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_log_group(name)


@pytest.mark.parametrize("name", ["datagrok_log", "with space/and#ü", "x" * 512])
def test_valid_stream_names(name: str) -> None:
    validate_stream(name)


@pytest.mark.parametrize("name", ["", "a:b", "a*", "x" * 513])
def test_invalid_stream_names(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_stream(name)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("eu-west-1", True), ("us-gov-east-1", True), ("EU", False), ("eu_west_1", False)],
)
def test_region_shape(name: str, ok: bool) -> None:
    if ok:
        validate_region(name)
    else:
        with pytest.raises(ValidationError):
            validate_region(name)


def test_enabling_needs_group_and_region_and_keys_come_in_pairs(db: Any) -> None:
    settings = ExportSettings.load()
    settings.enabled = True
    with pytest.raises(ValidationError) as caught:
        settings.full_clean()
    assert set(caught.value.message_dict) == {"log_group", "region"}
    settings.enabled, settings.access_key = False, ACCESS_KEY
    with pytest.raises(ValidationError, match="both the access key and the secret key"):
        settings.full_clean()


# --- the secret ----------------------------------------------------------------------


def test_the_secret_is_encrypted_at_rest_and_never_in_str_or_repr(db: Any) -> None:
    settings = configure({"log": "s"})
    stored = ExportSettings.objects.values_list("secret_key_encrypted", flat=True).get()
    assert SECRET_KEY not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert settings.secret_key() == SECRET_KEY
    assert SECRET_KEY not in str(settings) + repr(settings)
    assert "secret_key=set" in repr(settings)


def test_keys_rotate_and_a_lost_key_is_said_plainly(settings: Any) -> None:
    settings.AUDIT_ENCRYPTION_KEY = "old-key-0123456789abcdef"
    token = crypto.encrypt("s3cret")
    settings.AUDIT_ENCRYPTION_KEY = "new-key-fedcba9876543210,old-key-0123456789abcdef"
    assert crypto.decrypt(token) == "s3cret"
    settings.AUDIT_ENCRYPTION_KEY = "new-key-fedcba9876543210"
    settings.SECRET_KEY = "another-django-secret-key"
    with pytest.raises(crypto.DecryptionError, match="Enter the secret key again"):
        crypto.decrypt(token)


def test_without_an_encryption_key_secret_key_is_used_and_still_decrypts_later(
    settings: Any,
) -> None:
    settings.AUDIT_ENCRYPTION_KEY = ""
    token = crypto.encrypt("s3cret")
    settings.AUDIT_ENCRYPTION_KEY = "adopted-later-0123456789"
    assert crypto.decrypt(token) == "s3cret"


def test_the_secret_is_never_logged(db: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    configure({"log": "quiet"})
    audit.log("log", "x")
    assert export.drain().sent == 1
    assert caplog.records  # botocore and the exporter did log
    assert SECRET_KEY not in caplog.text


# --- cloudwatch_configure ------------------------------------------------------------


def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("cloudwatch_configure", *args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def test_configure_sets_everything_and_prints_it_without_the_secret(db: Any) -> None:
    out = run(
        "--log-group", "/datagrok/audit", "--region", "eu-west-1",
        "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
        "--endpoint-url", "http://127.0.0.1:4566",
        "--map", "log=datagrok_log", "--map", "error=>datagrok_errors", "--enable",
    )  # fmt: skip
    assert SECRET_KEY not in out and ACCESS_KEY not in out
    assert "enabled" in out and "/datagrok/audit" in out and "secret key set" in out
    assert "error => datagrok_errors" in out and "log => datagrok_log" in out
    settings = ExportSettings.objects.get()
    assert settings.enabled and settings.secret_key() == SECRET_KEY
    assert settings.endpoint_url == "http://127.0.0.1:4566"
    # --map replaces the map; other options keep their values.
    out = run("--map", "error=only_errors", "--disable", "--format", "text")
    assert dict(StreamMapping.objects.values_list("event_type__name", "stream")) == {
        "error": "only_errors"
    }
    settings.refresh_from_db()
    assert not settings.enabled and settings.log_group == "/datagrok/audit"
    assert settings.message_format == "text" and settings.secret_key() == SECRET_KEY


def test_configure_reads_the_secret_from_stdin(db: Any) -> None:
    run("--log-group", "g", "--region", "eu-west-1", "--access-key", ACCESS_KEY,
        "--secret-key", "-", stdin=SECRET_KEY + "\n")  # fmt: skip
    assert ExportSettings.objects.get().secret_key() == SECRET_KEY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "lgo=x"], "unknown event type 'lgo' (did you mean log"),
        (["--map", "log=a:b"], "cannot contain ':' or '*'"),
        (["--map", "log"], "expected TYPE=STREAM"),
        (["--log-group", "bad name"], "log_group: A log group name is 1 to 512"),
        (["--region", "Europe"], "region: A region looks like"),
        (["--access-key", ACCESS_KEY], "Give both the access key and the secret key"),
        (["--enable"], "Required to enable the export"),
    ],
)
def test_configure_refuses_what_cloudwatch_would(db: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace("*", r"\*")):
        run(*args)
    assert not StreamMapping.objects.exists()


# --- test connection -----------------------------------------------------------------


def settings_for(url: str = "", **values: Any) -> ExportSettings:
    settings = ExportSettings(
        log_group="/audit/check", region=REGION, endpoint_url=url, access_key=ACCESS_KEY
    )
    settings.set_secret_key(SECRET_KEY)
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


def test_connection_ok_against_moto_says_whether_the_group_exists(db: Any) -> None:
    settings = settings_for(moto_url(), log_group="/audit/check-" + free_port().__str__())
    result = connection.check(settings)
    assert result.ok and "does not exist yet: the first export creates it" in result.message
    logs = connection.client(settings)
    logs.create_log_group(logGroupName=settings.log_group)
    logs.put_retention_policy(logGroupName=settings.log_group, retentionInDays=30)
    result = connection.check(settings)
    assert result.ok and "exists (records kept 30 days)" in result.message


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("UnrecognizedClientException", 400, "does not recognise the access key"),
        ("InvalidSignatureException", 400, "secret key does not match the access key"),
        ("AccessDeniedException", 400, "not allowed to call DescribeLogGroups"),
        ("ExpiredTokenException", 400, "have expired"),
    ],
)
def test_connection_failures_in_plain_words(db: Any, code: str, status: int, words: str) -> None:
    settings = settings_for("http://127.0.0.1:9")
    logs = connection.client(settings)
    with Stubber(logs) as stub:
        stub.add_client_error("describe_log_groups", code, "aws says no", status)
        result = connection.check(settings, logs=logs)
    assert not result.ok and words in result.message


def test_an_unknown_region_is_reported_before_any_call(db: Any) -> None:
    result = connection.check(settings_for(region="xx-nowhere-1"))
    assert not result.ok and "Unknown region 'xx-nowhere-1'" in result.message


def test_an_unreachable_endpoint_is_reported(db: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = connection.check(settings_for(url))
    assert not result.ok and result.message.startswith(f"Could not reach {url}")


def test_no_keys_and_no_credentials_anywhere(db: Any, monkeypatch: Any, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    settings = settings_for(moto_url(), access_key="")
    settings.set_secret_key("")
    result = connection.check(settings)
    assert not result.ok and "boto3 found no credentials" in result.message


def test_the_client_gets_the_keys_region_and_endpoint(db: Any) -> None:
    logs = connection.client(settings_for(moto_url()))
    assert logs.meta.region_name == REGION and logs.meta.endpoint_url == moto_url()
    credentials = logs._request_signer._credentials
    assert credentials.access_key == ACCESS_KEY
    # botocore retries nothing: the sender's own bounded backoff is the only retry loop.
    assert logs.meta.config.retries["total_max_attempts"] == 1
