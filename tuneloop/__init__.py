"""tuneloop: the `tuneloop` command and the app launcher. The work lives in curate, training and evals."""
