"""Silver models (pure polars) and the preparation step that runs before them."""
