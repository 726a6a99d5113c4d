"""WooCommerce: REST v3 client (consumer key/secret, SSRF guard for the store address), the order
endpoints and the parser.

``adapter.WooCommerceAdapter`` is what the registry loads; ``parser.parse_order`` is pure and can be
used on stored raw documents.
"""
