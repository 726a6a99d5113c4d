"""Sales channels (marketplaces). Each adapter is one small package registered in ``channels.registry``."""
