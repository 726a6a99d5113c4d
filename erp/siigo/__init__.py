"""Siigo (Siigo Nube, Colombia): the second ERP. Facts about its API and their sources: API_FACTS.md."""
