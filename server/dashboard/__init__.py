"""The manager dashboard: figures for a period, drawn on the server, and the customers at risk."""
