"""The shop API the course studies."""
