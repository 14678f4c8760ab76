"""The pipeline's steps: each ``step(image, options, ctx) -> image`` does nothing when its option is absent."""
