"""Windows packaging: the WiX v4 MSI and the executable's version resource."""
