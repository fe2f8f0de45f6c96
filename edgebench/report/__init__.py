"""Tables (and, later, plots and the deployment pick) rendered from results files alone."""
