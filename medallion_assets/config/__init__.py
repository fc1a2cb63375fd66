"""Config models and loader: YAML files in, one validated ``MedallionConfig`` out."""
