"""The upper layer: config, specs, extractors, Silver models, Dagster assets and orchestration, the CLI."""
