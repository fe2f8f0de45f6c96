"""The device lab: many boards measured from one host through labgrid, every result in one store.

``coordinator`` talks to labgrid's coordinator (places, reservations, who holds what); ``ssh`` reaches a
board (keys only, host keys checked); ``board`` is what runs on a board (``edgebench lab board``: a run
whose result lines stream back); ``fleet`` dispatches a run to boards and survives their loss; ``store``
keeps every board's lines in one SQLite or PostgreSQL database; ``lines`` decides which board lines
are result records; ``describe`` writes the exporter's configuration and shows the lab.
"""
