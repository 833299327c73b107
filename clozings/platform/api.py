"""Kernel base for API views: parse input with a serializer, errors in the API's format."""

from __future__ import annotations

from rest_framework.views import APIView


class ApiView(APIView):
    def parse(self, serializer_class, request, **kwargs) -> dict:
        """Validate request.data (or query params for GET) and return the clean data;
        a bad input raises ValidationError, which the handler turns into a 400."""
        data = request.query_params if request.method == "GET" else request.data
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
