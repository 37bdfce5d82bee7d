"""Upload a file the way the page does: ask POST /uploads, then POST the file with the form's fields.

Used by the integration tests and the bench; the standard library only (multipart by hand).
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request


def _multipart(fields: dict[str, str], data: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    boundary = "----imagesearch" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    # S3 reads the fields before the file, and the file must come last.
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request_upload(api: str, timeout: float = 30.0) -> dict:
    """The `POST /uploads` answer (upload_id, url, fields, max_bytes, expires_in)."""
    request = urllib.request.Request(api + "/uploads", data=b"{}", method="POST",  # noqa: S310 - our URL
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - our URL
        return json.load(resp)


def post_file(form: dict, data: bytes, content_type: str, filename: str = "query",
              origin: str | None = None, timeout: float = 60.0) -> int:
    """POST `data` to the presigned form; the HTTP status S3 answered (204 when stored)."""
    fields = {**form["fields"], "Content-Type": content_type}
    body, header = _multipart(fields, data, filename, content_type)
    headers = {"Content-Type": header}
    if origin:
        headers["Origin"] = origin
    # The URL is the one our function signed (http on loopback locally, https in AWS).
    request = urllib.request.Request(form["url"], data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def upload(api: str, data: bytes, content_type: str, timeout: float = 60.0) -> str:
    """Request a form, post `data` with it, and return the upload id (raises unless S3 stored it)."""
    form = request_upload(api, timeout)
    status = post_file(form, data, content_type, timeout=timeout)
    if status not in (200, 201, 204):
        raise RuntimeError(f"the upload POST answered {status}")
    return form["upload_id"]
