from django.urls import path

from moderation_data.views import EnforcementSummaryView

urlpatterns = [
    path("public/enforcement-summary", EnforcementSummaryView.as_view(), name="public-enforcement-summary"),
]
