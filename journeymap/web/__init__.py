"""The dashboard: `journeymap serve` (pages, a JSON API with an OpenAPI document)."""
