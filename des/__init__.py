"""sqdm-sim: des package."""
