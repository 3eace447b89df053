"""Settings: the TOML file and the environment, validated once into frozen
models (model.py, sections.py; load.py reads and checks them)."""
