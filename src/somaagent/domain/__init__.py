"""Pure domain models, events, errors and ports. No I/O and no adapter imports here.

Importing any module of this package registers the built-in event types, so an
`Envelope` built anywhere gets its type's current schema_version by default.
"""

from somaagent.domain import event_types as event_types
from somaagent.domain import upcasting as upcasting

__all__ = ["event_types", "upcasting"]
