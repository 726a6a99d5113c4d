"""Shopify: Admin REST client (access token, leaky-bucket rate limit), the order endpoints and the parser.

``adapter.ShopifyAdapter`` is what the registry loads; ``parser.parse_order`` is pure and can be
used on stored raw documents.
"""
