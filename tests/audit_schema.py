"""The PS3.15 A.5.1.1 schema (vendored RELAX NG Compact) as an lxml validator, for tests."""

from __future__ import annotations

import functools
from importlib import resources

import rnc2rng
from lxml import etree


@functools.lru_cache(maxsize=1)
def audit_schema() -> etree.RelaxNG:
    """The DICOM audit message schema, converted from the vendored ``.rnc`` once."""
    text = (resources.files("raddx.security") / "data" / "audit-message.rnc").read_text()
    return etree.RelaxNG(etree.fromstring(rnc2rng.dumps(rnc2rng.loads(text)).encode()))


def assert_valid(xml: bytes) -> etree._Element:
    """Parse ``xml``; fail with the schema's own error log if it does not validate."""
    root = etree.fromstring(xml)
    schema = audit_schema()
    assert schema.validate(root), str(schema.error_log)
    return root
