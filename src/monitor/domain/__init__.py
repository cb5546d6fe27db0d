"""Pure logic: no I/O, no clock reads. The main target of property-based tests."""
