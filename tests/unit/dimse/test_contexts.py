from __future__ import annotations

import copy

from pydicom.uid import JPEG2000Lossless
from pynetdicom import AllStoragePresentationContexts

from raddx.dimse.contexts import (
    STORAGE_TRANSFER_SYNTAXES,
    cheap_copy_contexts,
    storage_contexts,
)


def test_every_storage_class_with_every_accepted_syntax() -> None:
    contexts = storage_contexts()
    assert len(contexts) == len(AllStoragePresentationContexts)
    assert all(c.transfer_syntax == list(STORAGE_TRANSFER_SYNTAXES) for c in contexts)


def test_cheap_copy_is_a_real_copy() -> None:
    """pynetdicom deep-copies the contexts per association and may change the copy; the
    originals must stay untouched."""
    originals = cheap_copy_contexts(storage_contexts())
    copies = copy.deepcopy(originals)
    assert [c.abstract_syntax for c in copies] == [c.abstract_syntax for c in originals]
    copies[0].transfer_syntax = [JPEG2000Lossless]
    copies[1].scp_role = True
    assert originals[0].transfer_syntax == list(STORAGE_TRANSFER_SYNTAXES)
    assert originals[1].scp_role is None
