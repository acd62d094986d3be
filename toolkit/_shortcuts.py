"""Whether the shortcuts are on: ``TOOLKIT_PLAIN=0`` in the environment at import turns them off.

Every shortcut of the library (the plain entry of a decorated function,
plain batches, :func:`~toolkit._into_torch.fast_torch`,
:func:`~toolkit._into_numpy.fast_numpy`, the plain results of the mirror
rule) asks this flag once, when it is made, and with it off every call
takes the general path. The test suite runs both ways, so a shortcut that
gives another answer than the rules it shortens is caught.
"""

from __future__ import annotations

import os

from ._dynamo import skip_frames

__all__ = ["ON"]

ON: bool = os.environ.get("TOOLKIT_PLAIN", "").strip() != "0"


def never(x: object) -> None:
    """The fast case of a rule while the shortcuts are off: it never applies."""
    return None


skip_frames(__name__)
