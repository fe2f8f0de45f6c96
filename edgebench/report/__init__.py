"""Reports and the deployment pick, rendered from results files alone (nothing here measures)."""
