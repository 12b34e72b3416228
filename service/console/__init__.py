"""The operator console: /console (docs/console.md)."""
