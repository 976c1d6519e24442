"""Settings -> Log: validation as CloudWatch's, the secret encrypted and never shown,
``cloudwatch_configure``, and "test connection" in plain words."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

import audit
import auditproj
from cloudwatch_export import connection, crypto, export
from cloudwatch_export.models import ExportSettings, StreamMapping
from cloudwatch_export.validation import (
    validate_access_key,
    validate_aws_access_key,
    validate_log_group,
    validate_region,
    validate_stream,
)

from .cloudwatch_helpers import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    configure,
    free_port,
    moto_url,
    run_configure,
    use_development_key,
)


@pytest.mark.parametrize("name", ["a", "/aws/lambda/x", "app.log-1_#2", "x" * 512])
def test_valid_log_group_names(name: str) -> None:
    validate_log_group(name)


@pytest.mark.parametrize("name", ["", "has space", "colon:no", "star*", "ü", "x" * 513, "g\n"])
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
    [
        ("eu-west-1", True),
        ("us-gov-east-1", True),
        ("EU", False),
        ("eu_west_1", False),
        ("eu-west-1\n", False),
    ],
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


# --- no secret under the development key ---------------------------------------------

REFUSED = "Refusing to store the secret key: SECRET_KEY is the development default"
CONFIGURE_WITH_SECRET = (
    "--log-group", "/g", "--region", REGION, "--access-key", ACCESS_KEY, "--secret-key", "-",
)  # fmt: skip


def test_without_secret_key_the_settings_fall_back_on_the_named_development_key(
    monkeypatch: Any,
) -> None:
    def load_settings() -> Any:  # a fresh run of auditproj/settings.py, beside the real one
        spec = importlib.util.spec_from_file_location(
            "auditproj._settings_probe", Path(auditproj.__file__).with_name("settings.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    monkeypatch.delenv("SECRET_KEY", raising=False)
    loaded = load_settings()
    assert loaded.AUDIT_DEVELOPMENT_SECRET_KEY
    assert loaded.SECRET_KEY == loaded.AUDIT_DEVELOPMENT_SECRET_KEY
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert load_settings().SECRET_KEY == "from-the-environment"


def test_configure_refuses_to_store_a_secret_under_the_development_key(
    db: Any, settings: Any
) -> None:
    use_development_key(settings)
    with pytest.raises(CommandError) as caught:
        run(*CONFIGURE_WITH_SECRET, stdin=SECRET_KEY + "\n")
    message = str(caught.value)
    assert message.startswith(REFUSED)
    assert "Set SECRET_KEY (or AUDIT_ENCRYPTION_KEY) in the environment" in message
    assert SECRET_KEY not in message
    assert not ExportSettings.objects.filter(secret_key_encrypted__gt="").exists()
    assert not ExportSettings.objects.exclude(log_group="").exists()  # nothing half-saved
    with pytest.raises(crypto.InsecureKeyError, match=REFUSED):
        crypto.encrypt("anything")  # whatever path tries
    # What stores no secret is still allowed.
    run("--log-group", "/g", "--region", REGION)
    run("--clear-keys")
    assert ExportSettings.objects.get().log_group == "/g"


def test_an_encryption_key_as_the_development_key_is_refused_too(settings: Any) -> None:
    settings.AUDIT_ENCRYPTION_KEY = settings.AUDIT_DEVELOPMENT_SECRET_KEY
    with pytest.raises(crypto.InsecureKeyError, match="AUDIT_ENCRYPTION_KEY is the development"):
        crypto.encrypt("anything")


@pytest.mark.parametrize(
    "change",
    [
        {"DEBUG": True},  # a developer's machine
        {"AUDIT_ENCRYPTION_KEY": "a-real-encryption-key-0123456789"},
    ],
    ids=["debug", "encryption-key"],
)
def test_storing_under_the_development_key_is_allowed_with_debug_or_an_encryption_key(
    db: Any, settings: Any, change: dict[str, Any]
) -> None:
    use_development_key(settings)
    for name, value in change.items():
        setattr(settings, name, value)
    run(*CONFIGURE_WITH_SECRET, stdin=SECRET_KEY + "\n")
    assert ExportSettings.objects.get().secret_key() == SECRET_KEY


def stored_secret_warnings() -> list[str]:
    found = checks.run_checks(databases=["default"], tags=[checks.Tags.security])
    return [message.id for message in found if message.id.startswith("cloudwatch_export.")]


def test_a_secret_already_stored_under_the_development_key_is_reported(
    db: Any, settings: Any
) -> None:
    assert stored_secret_warnings() == []  # nothing stored
    configure({"log": "s"})
    assert stored_secret_warnings() == []  # stored under the session's own key
    use_development_key(settings)
    settings.DEBUG = True
    configure({"log": "s"})  # allowed on a developer's machine...
    assert stored_secret_warnings() == []
    settings.DEBUG = False  # ...and then the database serves a production setup
    assert stored_secret_warnings() == ["cloudwatch_export.W001"]
    without_databases = checks.run_checks(tags=[checks.Tags.security])  # as most commands
    assert "cloudwatch_export.W001" not in [message.id for message in without_databases]
    settings.AUDIT_ENCRYPTION_KEY = "a-real-encryption-key-0123456789"
    assert stored_secret_warnings() == ["cloudwatch_export.W001"]  # still under the old key
    run("--secret-key", "-", stdin=SECRET_KEY + "\n")  # entered again: re-encrypted
    assert stored_secret_warnings() == []


# --- cloudwatch_configure ------------------------------------------------------------


run = run_configure


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


# --- access keys: AWS's shape for AWS, any key for moto and LocalStack ----------------

AWS_SHAPE = "access_key: An access key ID is 16 to 128 letters and digits"


@pytest.mark.parametrize("key", ["test", "testing", "AKIA_local:key/1", "x" * 128])
def test_any_printable_key_fits_an_endpoint(key: str) -> None:
    validate_access_key(key)


@pytest.mark.parametrize("key", ["te st", "tab\tkey", "nl\n", "\x00nul", "ключ", "x" * 129])
def test_no_endpoint_takes_spaces_control_characters_or_long_keys(key: str) -> None:
    with pytest.raises(ValidationError, match="without spaces or control characters"):
        validate_access_key(key)
    validate_aws_access_key(key)  # left to the message above


def test_configure_takes_a_test_key_with_an_endpoint_url(db: Any) -> None:
    out = run("--log-group", "/g", "--region", REGION, "--access-key", "testing",
              "--secret-key", "s", "--endpoint-url", "http://127.0.0.1:1")  # fmt: skip
    assert ExportSettings.objects.get().access_key == "testing"
    assert "access key …," in out and "testing" not in out


def test_configure_refuses_a_test_key_for_aws(db: Any) -> None:
    with pytest.raises(CommandError, match=AWS_SHAPE):
        run("--log-group", "/g", "--region", REGION, "--access-key", "testing",
            "--secret-key", "s")  # fmt: skip
    assert not ExportSettings.objects.filter(access_key="testing").exists()


def test_configure_judges_the_key_by_the_saved_endpoint_when_the_option_is_left_out(
    db: Any,
) -> None:
    run("--endpoint-url", "http://127.0.0.1:4566")
    run("--access-key", "test", "--secret-key", "-", stdin="test\n")
    settings = ExportSettings.objects.get()
    assert (settings.access_key, settings.secret_key()) == ("test", "test")
    # Clearing the endpoint would send "test" to AWS: refused, nothing changes.
    with pytest.raises(CommandError, match=AWS_SHAPE):
        run("--endpoint-url", "")
    settings.refresh_from_db()
    assert settings.endpoint_url == "http://127.0.0.1:4566"


@pytest.mark.parametrize("key", ["te st", "new\nline", "x" * 129])
def test_configure_refuses_spaces_control_characters_and_long_keys_even_with_an_endpoint(
    db: Any, key: str
) -> None:
    with pytest.raises(CommandError, match="access_key: "):
        run("--access-key", key, "--secret-key", "s", "--endpoint-url", "http://127.0.0.1:1")
    assert not ExportSettings.objects.exclude(access_key="").exists()


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
