"""Pure domain models, events, errors and ports. No I/O and no adapter imports here."""
