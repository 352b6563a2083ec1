"""Top-level values read from the bytes as pydicom would give them, without decoding.

An element pydicom has decoded is written back through its general writer; one left raw is
copied byte for byte (``deid/_writer.py``). The runner's checks read a few attributes of
every object (its class, modality, patient ID): reading those from the raw bytes keeps them
raw. Only single ASCII values without an escape are read here: they mean the same in every
character set (PS3.5 6.1.2.3); anything else goes through pydicom.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

__all__ = ["value_or"]


def value_or(ds: Dataset, tag: int, default: Any = "") -> Any:
    """``ds.get(keyword, default)`` for the string attribute at ``tag``.

    pydicom removes the trailing spaces and NULs that pad a string value (``multi_string``,
    and ``convert_text`` for LO/SH/UC); a single ASCII value is the same after that.
    """
    raw = ds.get_item(tag)
    if raw is None:
        return default
    if isinstance(raw, RawDataElement):
        value = raw.value
        if value is not None and value.isascii() and b"\\" not in value and b"\x1b" not in value:
            return value.decode("ascii").rstrip("\0 ")
    return ds[tag].value
