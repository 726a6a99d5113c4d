"""Building blocks shared by every plug-in, channel or ERP, and by the core that uses them.

``integrations`` names neither a marketplace, an ERP nor a country:

* :mod:`integrations.declarations` — what an adapter declares about itself (credential fields with
  their choices, defaults and help; the account a credential check finds; code-list options), which
  the CLI and the panel render;
* :mod:`integrations.errors` — the error tree every adapter raises and the core acts on;
* :mod:`integrations.http` — the one requestor per external API (timeouts, retries, rate limits, the
  status -> error table) and the shared paginators.

``connector.errors`` and ``connector.http`` re-export the last two, so older imports keep working.
"""
