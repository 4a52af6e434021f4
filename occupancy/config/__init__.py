"""Configuration documents and process settings: the site file model, document validation, BAYWATCH_* settings."""
