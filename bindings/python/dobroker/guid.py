"""Job ids: 16 bytes on the wire (a GUID in its Windows in-memory layout,
the first three groups little-endian), written {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}."""

import re
import uuid
from typing import Union

JobId = Union[bytes, bytearray, str, uuid.UUID]

_GUID_RE = re.compile(r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                      r"[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$")


def guid_str(b: Union[bytes, bytearray]) -> str:
    """16 bytes of the wire as '{6B29FC40-CA47-1067-B31D-00DD010662DA}'."""
    if len(b) != 16:
        raise ValueError("a job id is 16 bytes, not %d" % len(b))
    return "{%s}" % str(uuid.UUID(bytes_le=bytes(b))).upper()


def guid_bytes(s: str) -> bytes:
    """'{6B29FC40-CA47-1067-B31D-00DD010662DA}' (braces optional, any case)
    as the 16 bytes of the wire."""
    if not isinstance(s, str) or not _GUID_RE.match(s.strip()) \
            or s.strip().startswith("{") != s.strip().endswith("}"):
        raise ValueError("not a GUID: %r (expected {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX})" % (s,))
    return uuid.UUID(s.strip().strip("{}")).bytes_le


def job_id_bytes(job_id: JobId) -> bytes:
    """Any job id form (16 bytes, GUID text, uuid.UUID) as the 16 wire bytes."""
    if isinstance(job_id, uuid.UUID):
        return job_id.bytes_le
    if isinstance(job_id, str):
        return guid_bytes(job_id)
    if isinstance(job_id, (bytes, bytearray)):
        if len(job_id) != 16:
            raise ValueError("a job id is 16 bytes, not %d" % len(job_id))
        return bytes(job_id)
    raise TypeError("a job id is bytes, a GUID string or a uuid.UUID, not %s"
                    % type(job_id).__name__)
