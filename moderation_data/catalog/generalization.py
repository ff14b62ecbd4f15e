"""The values that generalized quasi-identifiers take in a release (codebook domains; docs/privacy.md)."""

from __future__ import annotations

from moderation_data.catalog import enums

EEA_SCOPE = "EEA"  # territorial_scope of a generalized row that covers the whole EEA
PARTIAL_EEA_SCOPE = "PARTIAL_EEA"  # … and of one that covers part of it, country fully generalized

CONTENT_TYPE_GROUPS = {
    "CONTENT_TYPE_VIDEO": "CONTENT_TYPE_GROUP_MEDIA", "CONTENT_TYPE_IMAGE": "CONTENT_TYPE_GROUP_MEDIA",
    "CONTENT_TYPE_AUDIO": "CONTENT_TYPE_GROUP_MEDIA", "CONTENT_TYPE_SYNTHETIC_MEDIA": "CONTENT_TYPE_GROUP_MEDIA",
    "CONTENT_TYPE_TEXT": "CONTENT_TYPE_GROUP_TEXT",
}  # fmt: skip
CONTENT_TYPE_GROUP_LABELS = {
    "CONTENT_TYPE_GROUP_MEDIA": "Media: video, image, audio or synthetic media (generalized)",
    "CONTENT_TYPE_GROUP_TEXT": "Text (generalized)",
    "CONTENT_TYPE_GROUP_OTHER": "Other content types (generalized)",
}
VISIBILITY_GROUPS = {
    "DECISION_VISIBILITY_CONTENT_REMOVED": "DECISION_VISIBILITY_GROUP_REMOVED_OR_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DISABLED": "DECISION_VISIBILITY_GROUP_REMOVED_OR_DISABLED",
}
VISIBILITY_GROUP_LABELS = {
    "DECISION_VISIBILITY_GROUP_REMOVED_OR_DISABLED": "Removed or disabled (generalized)",
    "DECISION_VISIBILITY_GROUP_RESTRICTED": "Any other visibility restriction (generalized)",
}
SCOPE_LABELS = {
    EEA_SCOPE: "The whole EEA (generalized)",
    PARTIAL_EEA_SCOPE: "Part of the EEA (generalized with the country)",
    **{region: f"{label}, at least one of its countries (generalized)" for region, label in enums.REGION_LABELS.items()
       if region in enums.REGIONS},
}  # fmt: skip
