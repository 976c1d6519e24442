"""The admin's settings form: the secret key is write-only.

The secret is never sent back to the browser (a password input that renders empty);
left empty, the stored value stays. Both keys can be forgotten at once to fall back on
boto3's default credential chain.
"""

from __future__ import annotations

from typing import Any

from django import forms

from .models import ExportSettings


class ExportSettingsForm(forms.ModelForm):
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
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["secret_key"].help_text = (
            "A secret key is stored (encrypted, never shown). Leave empty to keep it."
            if self.instance.has_secret_key
            else "No secret key is stored."
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("clear_keys"):
            cleaned["access_key"] = ""
            self.instance.set_secret_key("")
        elif cleaned.get("secret_key"):
            self.instance.set_secret_key(cleaned["secret_key"])
        cleaned.pop("secret_key", None)  # nothing downstream needs the clear text
        return cleaned
