"""The shop's business rules in plain Python: no framework is imported below this line."""
