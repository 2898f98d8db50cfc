"""sqdm-sim: workloads package."""
