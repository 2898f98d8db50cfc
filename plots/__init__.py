"""sqdm-sim: plots package."""
