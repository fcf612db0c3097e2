"""Interactive API docs: Swagger UI from this service's own files, so they work offline.

The Swagger UI files come from the `flask-swagger-ui` package (its `dist` folder is Swagger UI's
own build, pinned in pyproject.toml), so upgrading them is a version bump, not a hand copy.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from quart import Blueprint, Response, redirect
from quart_schema import hide
from werkzeug.exceptions import NotFound

from domain.model import MAC_ADDRESS_PATTERN
from entrypoints.http.schemas import DIFF_TARGET_PATTERN, REVISION_PATTERN

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
# The only files served, with their types: nothing else under the package can be reached.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>IoT Support Backend API</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css?v={version}">
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png?v={version}">
  <style>body {{ margin: 0; background: #fafafa; }}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js?v={version}"></script>
  <script>
    // Swagger UI says "Value must follow pattern <regex>" for a typo in a parameter, beside the
    // field and in the list above Execute; people get words instead, one sentence per pattern
    // of this document. (wrapComponents and wrapSelectors are Swagger UI's documented plugin
    // interface.)
    const PATTERN_WORDS = {words};
    const friendly = (message) => {{
      for (const [pattern, words] of Object.entries(PATTERN_WORDS)) {{
        const regex = "Value must follow pattern " + pattern;
        if (String(message).includes(regex)) return String(message).replace(regex, words);
      }}
      return message;
    }};
    const wordsNotRegex = () => ({{
      wrapComponents: {{
        JsonSchema_string: (Original, system) => (props) => {{
          const errors = props.errors && props.errors.map
            ? props.errors.map(friendly)
            : props.errors;
          return system.React.createElement(Original, {{ ...props, errors }});
        }}
      }},
      statePlugins: {{
        spec: {{
          wrapSelectors: {{
            // As Swagger UI's plugin docs show: the original comes bound to the state.
            validationErrors: (original) => (state, ...args) => original(...args).map(friendly)
          }}
        }}
      }}
    }});
    window.ui = SwaggerUIBundle({{
      url: "/api/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
      plugins: [wordsNotRegex],
      showExtensions: true,
      // Off: it would show each parameter's `pattern`, a regex, to people.
      showCommonExtensions: false,
      tryItOutEnabled: false
    }});
  </script>
</body>
</html>
"""

# What each pattern in the OpenAPI document means, said to people on the docs page.
PATTERN_WORDS = {
    MAC_ADDRESS_PATTERN: "not a MAC address: six pairs of hex digits joined by - or by :, "
    "like 02-00-00-00-00-01",
    REVISION_PATTERN: "not a revision id: twelve digits, as a history answer gives them",
    DIFF_TARGET_PATTERN: "not a revision id (twelve digits) nor current",
}

blueprint = Blueprint("docs", __name__)


@functools.cache
def swagger_ui_version() -> str:
    return (resources.files("flask_swagger_ui") / "dist" / "VERSION").read_text().strip()


@functools.cache
def _asset(name: str) -> bytes:
    return (resources.files("flask_swagger_ui") / "dist" / name).read_bytes()


@blueprint.get(DOCS_PATH)
@hide
async def docs_page() -> Response:
    page = PAGE.format(
        assets=ASSETS_PATH, version=swagger_ui_version(), words=json.dumps(PATTERN_WORDS)
    )
    return Response(page, content_type="text/html; charset=utf-8")


@blueprint.get(f"{ASSETS_PATH}/<name>")
@hide
async def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound()
    # The page asks for each file with `?v=<version>`, so a new version is a new URL.
    return Response(
        _asset(name),
        content_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


@blueprint.get(f"{DOCS_PATH}/")
@blueprint.get(f"{DOCS_PATH}/swagger")
@blueprint.get(f"{DOCS_PATH}/swagger/")
@hide
async def docs_elsewhere() -> Response:
    """The trailing-slash form, and the previous service's docs URL."""
    return redirect(DOCS_PATH, 301)  # type: ignore[return-value]
