"""Views that fail on purpose, to prove the error envelope."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


class _Input(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(min_value=1)


@api_view(["POST"])
@permission_classes([AllowAny])
def validating(request):
    _Input(data=request.data).is_valid(raise_exception=True)
    return Response({"ok": True})


@api_view(["GET"])
@permission_classes([AllowAny])
def exploding(request):
    raise RuntimeError("secret-internal-detail SELECT * FROM auth_user")


def plain_exploding(request):
    raise RuntimeError("secret-internal-detail in a plain Django view")


urlpatterns = [
    path("api/v1/test/validating", validating),
    path("api/v1/test/exploding", exploding),
    path("plain/exploding", plain_exploding),
    path("", include("platform_api.urls")),
]

handler400 = "platform_api.errors.handler400"
handler403 = "platform_api.errors.handler403"
handler404 = "platform_api.errors.handler404"
handler500 = "platform_api.errors.handler500"
