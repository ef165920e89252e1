"""A module whose import raises something other than ImportError (for the E003/E009 checks)."""

raise RuntimeError("this module fails while it is imported")
