"""The Quart side of answers: an `Answer` as a Quart response, and Quart's error handlers, which
answer every exception a route or Quart itself raises through the one error table."""

from __future__ import annotations

from quart import Quart, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from entrypoints.http.answer import BODYLESS, Answer, error
from entrypoints.http.errors import classify, failed
from entrypoints.observability.correlation import correlation_id


def respond(answer: Answer) -> Response:
    response = Response(answer.body, status=answer.status, headers=answer.headers)
    if "Content-Type" not in answer.headers:
        # Quart would label a body-less answer `text/html`.
        del response.headers["Content-Type"]
    if answer.status in BODYLESS:
        del response.headers["Content-Length"]
    return response


async def handle_exception(failure: Exception) -> Response:
    return respond(failed(failure, correlation_id(), f"{request.method} {request.path}"))


async def handle_http_exception(failure: HTTPException) -> Response:
    status, code = classify(failure)
    answer = error(status, code, _describe_http_error(failure), correlation_id())
    if isinstance(failure, MethodNotAllowed) and failure.valid_methods:
        answer.headers["Allow"] = ", ".join(sorted(failure.valid_methods))
    if status in (408, 413):
        # The body is left unread. Keeping the connection would mean reading all of it to
        # reach the next request, and a client that sent `Expect: 100-continue` has already
        # been told to send it (hypercorn answers 100 before the app sees the request).
        answer.headers["Connection"] = "close"
    return respond(answer)


def _describe_http_error(failure: HTTPException) -> str:
    if isinstance(failure, NotFound):
        return f"There is no API route at {request.path}."
    if isinstance(failure, MethodNotAllowed):
        allowed = ", ".join(sorted(failure.valid_methods or ()))
        return f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}."
    if failure.code == 408:
        limit = current_app.config["BODY_TIMEOUT"]
        return f"The request body did not arrive within {limit:g} s; nothing was written."
    if failure.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return f"The request body is larger than the {limit} byte limit."
    return failure.description or failure.name


def register_error_handlers(app: Quart) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_exception)
