"""`make bench`: speed, memory and serving figures; the last line printed is one JSON object."""
