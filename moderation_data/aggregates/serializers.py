"""Shapes of the aggregate endpoints and the public summary (validation, rendering, OpenAPI)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from moderation_data.aggregates.dimensions import SUMMARY_TABLES
from moderation_data.aggregates.spec import MAX_GROUP_BY, MEASURES, VALUE_FIELDS
from moderation_data.query.serializers import QueryField
from platform_api.serializers import QueryParamsSerializer, StrictSerializer

# A fraction of at most 6 decimals that is not zero (".5", "0.000001", "0.250000").
_NONZERO_FRACTION = r"\.(?:[1-9]\d{0,5}|0[1-9]\d{0,4}|00[1-9]\d{0,3}|000[1-9]\d{0,2}|0000[1-9]\d?|00000[1-9])"


def epsilon_pattern(maximum: Decimal) -> str | None:
    """The decimal strings in (0, maximum] with at most 6 decimals, for a whole maximum from 1 to 9; else None."""
    if maximum != maximum.to_integral_value() or not 1 <= maximum <= 9:
        return None
    top = int(maximum)
    below = f"0?{_NONZERO_FRACTION}"
    if top > 1:
        below += f"|[1-{top - 1}](?:\\.\\d{{1,6}})?"
    return f"^(?:{below}|{top}(?:\\.0{{1,6}})?)$"


class EpsilonField(serializers.DecimalField):
    """ε of one query: more than 0, at most AGGREGATE_MAX_EPSILON_PER_QUERY, 6 decimals."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_digits=9, decimal_places=6, min_value=Decimal("0.000001"), **kwargs)


class EpsilonFieldExtension(OpenApiSerializerFieldExtension):
    """The schema's pattern of ε admits exactly the values the API accepts (when the cap is a whole number)."""

    target_class = EpsilonField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        pattern = epsilon_pattern(settings.AGGREGATE_MAX_EPSILON_PER_QUERY)
        if pattern and schema.get("type") == "string":
            schema["pattern"] = pattern
        return schema


class AggregateBodySerializer(StrictSerializer):
    group_by = serializers.ListField(
        child=serializers.CharField(), max_length=MAX_GROUP_BY, required=False, default=list,
        help_text=f"up to {MAX_GROUP_BY} codebook fields marked groupable; none for the total",
    )  # fmt: skip
    query = QueryField(required=False, allow_null=True)
    measure = serializers.ChoiceField(
        choices=MEASURES, default="decisions",
        help_text="decisions or accounts per group; sum or mean of a bucketed value field",
    )  # fmt: skip
    value = serializers.ChoiceField(
        choices=list(VALUE_FIELDS), required=False, allow_null=True, help_text="the field a sum or mean is of"
    )
    epsilon = EpsilonField(
        help_text="the privacy loss this answer may cost (at most 6 decimals; see AGGREGATE_MAX_EPSILON_PER_QUERY)",
    )
    contribution_bound = serializers.IntegerField(
        min_value=1, required=False,
        help_text="decisions per account counted (accounts: groups per account); default from the server",
    )  # fmt: skip

    def validate_epsilon(self, value: Decimal | None) -> Decimal | None:
        if value is not None and value > settings.AGGREGATE_MAX_EPSILON_PER_QUERY:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.AGGREGATE_MAX_EPSILON_PER_QUERY} (one query)."
            )
        return value


class EstimateBodySerializer(AggregateBodySerializer):
    openapi_exactly_one_of = ("epsilon", "ci95_width")  # the schema's oneOf (platform_api/openapi.py)
    epsilon = EpsilonField(required=False, help_text="the ε to estimate; or give ci95_width instead")
    ci95_width = serializers.FloatField(
        min_value=0, required=False, help_text="target width of each group's 95% interval; the answer says the ε"
    )

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if ("epsilon" in attrs) == ("ci95_width" in attrs):
            raise serializers.ValidationError({"epsilon": ["Give exactly one of epsilon and ci95_width."]})
        return attrs


@extend_schema_field(
    {
        "type": "object",
        "description": "The group's key, one property per group_by field (a value of its codebook domain, or null), "
        "then the noisy figure: `count` (decisions, accounts), `sum` or `mean`, with `noise_scale` and `ci95` "
        "[low, high]; a mean also has its noisy `sum`, `count` and `count_noise_scale`.",
        "properties": {
            "count": {"type": "integer", "description": "noisy; may be negative where the true count is small"},
            "sum": {"type": "integer"},
            "mean": {"type": "number", "nullable": True},
            "noise_scale": {"type": "number", "description": "Laplace scale b: standard deviation √2·b"},
            "count_noise_scale": {"type": "number"},
            "ci95": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        },
        "additionalProperties": True,
    }
)
class AggregateRowField(serializers.DictField):
    def to_representation(self, value):
        return value


class BudgetSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    epsilon_total = serializers.FloatField(help_text="this project's budget on the release")
    epsilon_spent = serializers.FloatField()
    epsilon_remaining = serializers.FloatField(help_text="what can still be spent: the project's rest, or less "
                                               "when the release's global cap has less left")  # fmt: skip
    release_cap_total = serializers.FloatField(help_text="ε all projects together may spend (public summary included)")
    release_cap_remaining = serializers.FloatField()


class AggregateResponseSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField(help_text="the release version this answer counts")
    group_by = serializers.ListField(child=serializers.CharField())
    measure = serializers.CharField()
    value = serializers.CharField(allow_null=True)
    query = serializers.DictField(help_text="the query in canonical form")
    epsilon = serializers.FloatField(help_text="the ε this answer cost when it was first computed")
    epsilon_spent = serializers.FloatField(help_text="what this request spent: 0 for a repeat")
    cached = serializers.BooleanField(help_text="true when a repeat of a query already answered: same answer, free")
    budget_remaining = serializers.FloatField(help_text="ε your project can still spend on this release")
    budget = BudgetSerializer()
    answered_at = serializers.DateTimeField()
    mechanism = serializers.DictField(help_text="noise, contribution bound, sensitivity and interval half-widths")
    data = serializers.ListField(child=AggregateRowField(), help_text="every group of the domain, zero or not")


class EstimateVectorSerializer(serializers.Serializer):
    epsilon = serializers.FloatField()
    sensitivity = serializers.FloatField()
    noise_scale = serializers.FloatField()
    standard_deviation = serializers.FloatField()
    expected_absolute_error = serializers.FloatField()
    ci95_half_width = serializers.FloatField()
    ci95_width = serializers.FloatField()


class EstimateResponseSerializer(serializers.Serializer):
    release = serializers.CharField()
    epsilon = serializers.FloatField(help_text="the ε the aggregate would be asked with")
    epsilon_cost = serializers.FloatField(help_text="what it would spend: 0 when it repeats a query already answered")
    repeat = serializers.BooleanField()
    cells = serializers.IntegerField(help_text="groups in the answer")
    contribution_bound = serializers.IntegerField()
    noise_scale = serializers.FloatField()
    ci95_width = serializers.FloatField(help_text="width of each group's 95% interval")
    expected_absolute_error = serializers.FloatField()
    vectors = serializers.DictField(child=EstimateVectorSerializer())
    budget_remaining = serializers.FloatField()
    affordable = serializers.BooleanField()
    within_per_query_limit = serializers.BooleanField()


# --- the public enforcement summary --------------------------------------------------------------

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def _month_field(help_text: str) -> serializers.RegexField:
    return serializers.RegexField(
        MONTH_PATTERN, required=False, help_text=help_text, error_messages={"invalid": "Expected a month as YYYY-MM."}
    )


class PublicSummaryQuerySerializer(QueryParamsSerializer):
    month_from = _month_field("first month included (YYYY-MM)")
    month_to = _month_field("last month included (YYYY-MM), not before month_from")
    dimension = serializers.ChoiceField(choices=SUMMARY_TABLES, required=False)
    value = serializers.CharField(required=False, max_length=80, help_text="a value of the dimension")
    # Bounded: a huge page number would overflow the OFFSET (a 500 before; 400 now).
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(min_value=1, max_value=10_000, default=1000)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("month_from") and attrs.get("month_to") and attrs["month_from"] > attrs["month_to"]:
            raise serializers.ValidationError({"month_to": ["Must not be before month_from."]})
        if attrs.get("value") and not attrs.get("dimension"):
            raise serializers.ValidationError({"value": ["Give the dimension the value belongs to."]})
        return attrs


class PublicSummaryCellSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    dimension = serializers.CharField()
    value = serializers.CharField()
    decisions = serializers.IntegerField(help_text="noisy count; may be negative where the true count is small")
    noise_scale = serializers.FloatField()
    ci95 = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)


class PublicSummaryMechanismSerializer(serializers.Serializer):
    name = serializers.CharField()
    library = serializers.CharField()
    privacy_unit = serializers.CharField()
    epsilon = serializers.FloatField()
    contribution_bound = serializers.IntegerField()
    noise_scale = serializers.FloatField()
    ci95_half_width = serializers.FloatField()
    dimensions = serializers.ListField(child=serializers.CharField())


class PublicSummaryResponseSerializer(serializers.Serializer):
    release = serializers.CharField(help_text="version of the release the figures come from")
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    epsilon = serializers.FloatField(help_text="the public ε of this release's summary (differential privacy)")
    mechanism = PublicSummaryMechanismSerializer()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    count = serializers.IntegerField(help_text="cells matching the filters")
    has_more = serializers.BooleanField()
    data = PublicSummaryCellSerializer(many=True)
