"""Pure ranking logic of the ranker (no I/O): A/B assignment, row planning, candidate blending, filters,
diversity and exploration. Everything here takes and returns plain data."""
