"""The command line and its jobs: settings, `distill` and `tune`, reports, plots and model cards."""
