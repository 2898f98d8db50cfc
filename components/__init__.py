"""sqdm-sim: components package."""
