"""The organisation's own policies: the check-in geofence and the customer-tier thresholds."""
