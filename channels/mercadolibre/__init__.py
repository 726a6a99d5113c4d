"""Mercado Libre: OAuth refresh-token client, the order/shipment/billing-info endpoints and the parser.

``adapter.MercadoLibreAdapter`` is what the registry loads; ``parser.parse_order`` is pure and can be
used on stored raw documents.
"""
