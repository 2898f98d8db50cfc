"""sqdm-sim: quant package."""
