"""The staff console: the platform host's staff pages and the staff APIs that count across
apps. Composition root: it imports the apps and reads through their selectors; no app
imports it (an import-linter contract)."""
