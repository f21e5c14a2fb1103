"""Use cases and the unit of work that gives each one its transaction."""
