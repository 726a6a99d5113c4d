"""Building blocks shared by every plug-in, channel or ERP, and by the core that renders them.

``integrations`` names neither a marketplace, an ERP nor a country. It holds what an adapter declares
about itself (:mod:`integrations.declarations`: credential fields with their choices and help, the
account a credential check finds, code lists) so ``channels/``, ``erp/``, ``connector/`` and
``admin_ui/`` share one vocabulary without importing one another.
"""
