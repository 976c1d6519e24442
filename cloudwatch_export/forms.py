"""The admin's settings form: the secret key is write-only, the access key is masked.

The secret is never sent back to the browser (a password input that renders empty);
left empty, the stored value stays. The access key id is shown masked (``AKIA…WXYZ``,
as ``cloudwatch_configure`` prints it) as the input's placeholder, never as its value:
left empty it stays too, and a key typed replaces it. Both keys can be forgotten at
once to fall back on boto3's default credential chain.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .export_settings import mask_access_key
from .models import ExportSettings


class ExportSettingsForm(forms.ModelForm):
    instance: ExportSettings  # ModelForm is not generic at run time; this is its model

    secret_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_keys = forms.BooleanField(
        required=False,
        label="Forget the stored keys",
        help_text="Use boto3's default credential chain (environment, instance role).",
    )

    class Meta:
        model = ExportSettings
        fields = [
            "enabled",
            "log_group",
            "region",
            "access_key",
            "secret_key",
            "clear_keys",
            "endpoint_url",
            "message_format",
            "seal_stream",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A view-only admin's form has none of the model's fields (all read-only):
        # dress only the fields this form has.
        secret_key = self.fields.get("secret_key")
        if secret_key is not None:
            secret_key.help_text = (
                "A secret key is stored (encrypted, never shown). Leave empty to keep it."
                if self.instance.has_secret_key
                else "No secret key is stored."
            )
        access_key = self.fields.get("access_key")
        if access_key is None:
            return
        access_key.widget.attrs["autocomplete"] = "off"
        shape = "16 to 128 letters and digits for AWS; any key with an endpoint URL."
        stored = self.instance.access_key
        if stored:
            masked = mask_access_key(stored)
            self.initial["access_key"] = ""  # the page never carries the stored key
            access_key.widget.attrs["placeholder"] = masked
            access_key.help_text = (
                f"An access key is stored ({masked}). Leave empty to keep it. {shape}"
            )
        else:
            access_key.help_text = f"{access_key.help_text} {shape}"

    def clean(self) -> dict[str, Any]:
        super().clean()  # a model form's own clean returns its cleaned_data
        cleaned = self.cleaned_data
        if cleaned.get("clear_keys"):
            cleaned["access_key"] = ""
            self.instance.set_secret_key("")
        else:
            if not cleaned.get("access_key") and "access_key" not in self.errors:
                cleaned["access_key"] = self.instance.access_key  # left empty: kept
            if cleaned.get("secret_key"):
                try:
                    self.instance.set_secret_key(cleaned["secret_key"])
                except ValidationError as exc:  # refused under the development key
                    self.add_error("secret_key", exc)
        cleaned.pop("secret_key", None)  # nothing downstream needs the clear text
        return cleaned

    def full_clean(self) -> None:
        super().full_clean()  # the fields, clean() above, then the model's own checks
        if self.has_error("secret_key", "insecure_key"):
            # "Give both keys" would only repeat, misleadingly, that no secret was taken.
            errors = self.errors.get(NON_FIELD_ERRORS)
            kept = (
                [error for error in errors.as_data() if error.code != "key_pair"] if errors else []
            )
            if kept:
                self.errors[NON_FIELD_ERRORS] = self.error_class(
                    kept, error_class="nonfield", renderer=self.renderer
                )
            else:
                self.errors.pop(NON_FIELD_ERRORS, None)
