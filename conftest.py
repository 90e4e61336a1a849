# Loaded by pytest for the whole repository (unit tests and notebooks).
pytest_plugins = ["plmkit.grading"]
