"""Template filters of the Enterspeed admin area."""

from django import template

from enterspeed_sync.admin_area.display import local_times as _local_times

register = template.Library()


@register.filter
def local_times(text: str) -> str:
    """The UTC times written into a stored error, in the reader's time zone."""
    return _local_times(text)
