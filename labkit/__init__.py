"""labkit: the helper library every notebook imports as `lk`."""
