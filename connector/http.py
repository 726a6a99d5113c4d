"""Moved to :mod:`integrations.http` (shared by channels, ERPs and the core, so neither imports the
other's package for it); this module keeps the old import path working."""

from integrations.http import (  # noqa: F401
    DEFAULT_STATUS_ERRORS,
    ErrorMessageExtractor,
    NoRateLimit,
    RateLimitPolicy,
    Requestor,
    WaitLimits,
    default_error_message,
    iter_link_header_pages,
    iter_offset_pages,
    iter_page_number_pages,
    next_link,
    parse_retry_after,
)
