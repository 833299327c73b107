"""The WSGI application: Django, behind a guard for requests Django fails on while it
builds them (a 500 from the server otherwise) or misreads (a chunked body)."""

import codecs
import io
import json
import logging
import os

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.wsgi import get_wsgi_application
from django.utils.http import parse_header_parameters

from clozings.platform.startup import refuse_development_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozings.platform.settings")

# Python's own codecs, not character sets of the web: some fail to decode with errors
# Django does not expect (punycode, undefined), the others read escapes as text.
PYTHON_ONLY_CODECS = frozenset({"idna", "mbcs", "oem", "palmos", "punycode",
                                "raw-unicode-escape", "undefined", "unicode-escape"})


def content_type_problem(content_type: str) -> tuple[str, str] | None:
    """(code, message) when a Content-Type header can't be used to decode the request's text.

    Django decodes the query string with the body's charset while it builds the request,
    before any middleware or view: a charset that is no text encoding (bz2_codec, base64,
    rot13) or a parameter in an unknown RFC 2231 charset ends there in a 500.
    """
    try:
        _, params = parse_header_parameters(content_type)
    except ValueError:  # e.g. `name*=bogus''value`: an RFC 2231 value in an unknown charset
        return "bad_request", "The Content-Type header is not valid."
    charset = params.get("charset")
    if charset is None:
        return None
    try:
        name = codecs.lookup(charset).name
        "".encode(charset)  # LookupError for a byte transform: not a text encoding
    except (LookupError, ValueError):  # ValueError: e.g. a NUL in the name
        name = None
    if name is None or name in PYTHON_ONLY_CODECS:
        return "unsupported_charset", f"The charset {charset!r} is not supported; send UTF-8."
    return None


def read_chunked_body(environ) -> bool:
    """Give Django a body sent with `Transfer-Encoding: chunked`; False when it is larger
    than settings.DATA_UPLOAD_MAX_MEMORY_SIZE.

    Django reads wsgi.input up to CONTENT_LENGTH, and a chunked request has none: it would
    see an empty body (an invitation answered "email: This field is required" although the
    email was sent). gunicorn hands over the body de-chunked; it is read here, up to the same
    cap Django applies to a body with a length, and passed on with its length.
    """
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
            or environ.get("CONTENT_LENGTH"):
        return True
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    stream = environ["wsgi.input"]
    body = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(body) > limit:
        return False
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return True


class RejectUndecodableRequests:
    """Answer 400 to a request Django fails on while it builds it, before its own error
    handling (413 to a chunked body over the size cap): JSON in the API's error format under
    the API's paths, plain text elsewhere."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        problem = content_type_problem(environ.get("CONTENT_TYPE", ""))
        if problem is not None:
            return self.refuse(environ, start_response, *problem)
        if not read_chunked_body(environ):
            return self.refuse(
                environ, start_response, "payload_too_large",
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
                status="413 Request Entity Too Large")
        try:
            return self.app(environ, start_response)
        except SuspiciousOperation as exc:
            # Django answers these with a 400 from inside its handler; one raised while the
            # request is built (a charset makes Django parse the query string right away, so
            # too many fields in it raise TooManyFieldsSent there) escapes to the server.
            logging.getLogger(f"django.security.{type(exc).__name__}").error(str(exc))
            return self.refuse(environ, start_response, "bad_request",
                               "The request was not understood.")

    @staticmethod
    def refuse(environ, start_response, code: str, message: str,
               status: str = "400 Bad Request"):
        # Imported here: the error format needs settings, which the app above has loaded.
        from clozings.platform.errors import API_PATH_PREFIXES, error_body

        if environ.get("PATH_INFO", "").startswith(API_PATH_PREFIXES):
            body, content_type = json.dumps(error_body(code, message)), "application/json"
        else:
            body, content_type = message, "text/plain; charset=utf-8"
        payload = body.encode()
        start_response(status, [
            ("Content-Type", content_type), ("Content-Length", str(len(payload))),
            ("X-Content-Type-Options", "nosniff")])
        return [payload]


application = RejectUndecodableRequests(get_wsgi_application())
refuse_development_secrets("web server")
