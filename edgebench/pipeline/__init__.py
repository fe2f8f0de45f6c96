"""The three steps every command composes: plan (which cells, and why any is skipped), build (prepare each
model and build each artifact: cached, each job in its own process), measure (a model's cells timed in
interleaved rounds, each isolated, into the results store).

``edgebench run`` = plan → build → measure; ``edgebench export`` = plan → build (copied into a folder);
``edgebench run --artifacts`` = plan → build from the folder (``BundleBuild``) → measure.
"""
