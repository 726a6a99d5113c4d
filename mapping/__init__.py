"""SKU mapping: ERP catalog cache, line-to-item resolution (manual mappings first) and mismatches."""
