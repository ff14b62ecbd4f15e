from __future__ import annotations

from rest_framework import serializers

from moderation_data.aggregates.serializers import BudgetSerializer


class MeQuotasSerializer(serializers.Serializer):
    requests_per_minute = serializers.IntegerField()
    requests_per_day = serializers.IntegerField()
    records_per_day = serializers.IntegerField()
    concurrent_exports = serializers.IntegerField()
    export_rows_per_month = serializers.IntegerField(
        help_text="The export allowance: rows this grant may export per calendar month (UTC). Exports never spend "
        "records_per_day."
    )


class ExportAllowanceSerializer(serializers.Serializer):
    export_rows_per_month = serializers.IntegerField()
    used = serializers.IntegerField(help_text="Rows of this month's exports (failed and cancelled ones excluded).")
    remaining = serializers.IntegerField()
    resets_at = serializers.CharField(help_text="First day of next month, 00:00 UTC.")


class MeUsageTodaySerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    records = serializers.IntegerField()
    resets_at = serializers.CharField(help_text="Next UTC midnight, when the daily counters reset.")


class MeProjectSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Project id: the key of this project's pseudonyms.")
    title = serializers.CharField()
    organisation = serializers.CharField()


class MeTeamMemberSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.CharField()
    orcid = serializers.CharField(allow_null=True)


# Keys "from", "until", "fields" ("from" is a keyword, hence the functional form).
MeDataLimitsSerializer = type(
    "MeDataLimitsSerializer",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(allow_null=True, help_text="only decisions on or after this day"),
        "until": serializers.DateField(allow_null=True, help_text="only decisions on or before this day"),
        "fields": serializers.ListField(child=serializers.CharField(), help_text="only these fields (empty: all)"),
    },
)


class MeSerializer(serializers.Serializer):
    client_id = serializers.CharField()
    project = MeProjectSerializer()
    researchers = MeTeamMemberSerializer(many=True)
    datasets = serializers.ListField(child=serializers.CharField())
    modality = serializers.ChoiceField(choices=["aggregate", "records", "records_and_exports"])
    status = serializers.CharField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    scopes = serializers.ListField(child=serializers.CharField(), help_text="The scopes of this token.")
    quotas = MeQuotasSerializer()
    usage_today = MeUsageTodaySerializer()
    export_allowance = ExportAllowanceSerializer()
    privacy_budgets = BudgetSerializer(many=True, help_text="ε per published release (docs/aggregates.md)")
    dsc_reference = serializers.CharField(
        allow_null=True,
        help_text="The reference of the DSC reasoned request this grant was issued on (DSA Art. 40(4)).",
    )
    data_limits = MeDataLimitsSerializer(
        allow_null=True, help_text="The period and fields this grant's rows are limited to; null when unlimited."
    )
    longitudinal_linkage = serializers.BooleanField(
        help_text="True: an account keeps its pseudonym across this project's releases; false (default): account "
        "pseudonyms change with every release (docs/pseudonyms.md)."
    )


class UsageTodaySerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    records = serializers.IntegerField()
    requests_remaining = serializers.IntegerField()
    records_remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class UsageDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    requests = serializers.IntegerField()
    records = serializers.IntegerField()
    refused = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    today = UsageTodaySerializer()
    quotas = MeQuotasSerializer()
    export_allowance = ExportAllowanceSerializer()
    privacy_budgets = BudgetSerializer(many=True, help_text="ε per published release (docs/aggregates.md)")
    days = UsageDaySerializer(many=True)
