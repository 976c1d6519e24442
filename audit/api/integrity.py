"""``GET /api/audit/integrity/`` (staff): the latest seal, when it was made, when a seal
was last witnessed and when the trail was last verified (``audit.integrity``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..integrity import integrity


class SealSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.IntegerField()
    first_record = serializers.IntegerField()
    last_record = serializers.IntegerField()
    records = serializers.IntegerField()
    links = serializers.IntegerField()
    digest = serializers.CharField(help_text="SHA-256, hex, chained to `previous`.")
    previous = serializers.CharField(help_text="The digest of the seal before ('' for the first).")
    created_at = serializers.DateTimeField()
    record = serializers.IntegerField(
        allow_null=True, help_text="The trail-sealed record that carries it to the witness."
    )


class WitnessedSerializer(serializers.Serializer[dict[str, object]]):
    seal = serializers.IntegerField(help_text="The newest seal a witness received.")
    at = serializers.DateTimeField()


class VerifiedSerializer(serializers.Serializer[dict[str, object]]):
    at = serializers.DateTimeField()
    ok = serializers.BooleanField()
    problem = serializers.CharField(allow_null=True, help_text="The first change found.")
    seals = serializers.IntegerField(help_text="How many seals were recomputed.")


class IntegritySerializer(serializers.Serializer[dict[str, object]]):
    latest_seal = SealSerializer(allow_null=True)
    sealed_records = serializers.IntegerField(help_text="Records covered by the seals kept.")
    unsealed_records = serializers.IntegerField(help_text="Newer records, not sealed yet.")
    unsealed_capped = serializers.BooleanField(
        help_text="True when unsealed_records is a lower bound (counting stopped there)."
    )
    anchor_seal = serializers.IntegerField(
        allow_null=True, help_text="Where verification starts (the first seal kept)."
    )
    witnessed = WitnessedSerializer(allow_null=True)
    verified = VerifiedSerializer(allow_null=True)


class IntegrityView(APIView):
    """The trail's integrity at a glance (staff only)."""

    permission_classes = [IsAdminUser]

    @extend_schema(responses=IntegritySerializer)
    def get(self, request: Request) -> Response:
        return Response(IntegritySerializer(integrity().as_json()).data)
