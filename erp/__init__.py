"""ERPs. Each adapter is one small package registered in ``erp.registry``."""
